#!/usr/bin/env bash
# Install what the service needs from the OS packages when it is missing:
# PostgreSQL server + PostGIS (same major version) and, for the given Python, venv support.
# Debian/Ubuntu only (apt-get, as root or with sudo); elsewhere say what to install.
# Usage: scripts/setup-system.sh PYTHON [--with-gdal]   (--with-gdal: ogr2ogr for make bench)
set -euo pipefail
python="${1:?usage: setup-system.sh PYTHON [--with-gdal]}"
with_gdal="${2:-}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "need root for: $*  (run as root or install sudo)" >&2; return 1
  fi
}

is_debian() { [ -r /etc/os-release ] && grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; }

updated=0
apt_install() {
  if [ "$updated" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    updated=1
  fi
  echo "installing: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# newest installed PostgreSQL server version (Debian layout /usr/lib/postgresql/N/bin)
pg_version() {
  ls -1 /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -nr | while read -r v; do
    [ -x "/usr/lib/postgresql/$v/bin/initdb" ] && { echo "$v"; break; }
  done
}

need_pg=0; need_postgis=0; need_venv=0; need_gdal=0
if [ "$with_gdal" = "--with-gdal" ] && ! command -v ogr2ogr >/dev/null 2>&1; then need_gdal=1; fi
version=$(pg_version || true)
if [ -z "$version" ]; then need_pg=1
elif [ ! -f "/usr/share/postgresql/$version/extension/postgis.control" ]; then need_postgis=1
fi
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then need_venv=1; fi

if [ $need_pg -eq 0 ] && [ $need_postgis -eq 0 ] && [ $need_venv -eq 0 ] && [ $need_gdal -eq 0 ]; then
  exit 0
fi

if ! is_debian || ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages and this is not Debian/Ubuntu. Please install:" >&2
  [ $need_pg -eq 1 ] && echo "  - PostgreSQL >= 14 server (initdb, pg_ctl)" >&2
  [ $need_pg -eq 1 ] || [ $need_postgis -eq 1 ] && echo "  - PostGIS 3 for that PostgreSQL" >&2
  [ $need_venv -eq 1 ] && echo "  - the venv/ensurepip module for $python" >&2
  [ $need_gdal -eq 1 ] && echo "  - GDAL's command line tools (ogr2ogr)" >&2
  echo "or set PLANUNGSDATEN_DATABASE_URL to an existing PostGIS database." >&2
  exit 1
fi

if [ $need_pg -eq 1 ]; then
  # the distribution's default major version; its server and contrib come with it
  apt_install postgresql
  version=$(pg_version)
  need_postgis=1
fi
if [ $need_postgis -eq 1 ]; then
  apt_install "postgresql-$version-postgis-3"
fi
if [ $need_venv -eq 1 ]; then
  pyver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  # Debian splits venv/ensurepip out of the interpreter package
  apt_install "python$pyver-venv" || apt_install python3-venv
fi
if [ $need_gdal -eq 1 ]; then
  apt_install gdal-bin
fi
