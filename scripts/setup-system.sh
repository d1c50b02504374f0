#!/usr/bin/env bash
# Install what the service needs from the OS packages when it is missing:
# PostgreSQL server + PostGIS (same major version) and, for the given Python, venv support.
# Debian/Ubuntu only (apt-get, as root or with sudo); elsewhere say what to install.
# Usage: scripts/setup-system.sh PYTHON [--with-gdal] [--with-browser]   (flags in any order)
#   --with-gdal     ogr2ogr, for make bench
#   --with-browser  a headless Chromium for the end-to-end tests in tests/web (make test)
set -euo pipefail
usage="usage: setup-system.sh PYTHON [--with-gdal] [--with-browser]"
python="${1:?$usage}"
shift
with_gdal=0; with_browser=0
for flag in "$@"; do
  case "$flag" in
    --with-gdal) with_gdal=1 ;;
    --with-browser) with_browser=1 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else echo "need root for: $*  (run as root or install sudo)" >&2; return 1
  fi
}

is_debian() { [ -r /etc/os-release ] && grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; }
is_ubuntu() { [ -r /etc/os-release ] && grep -qiE '^ID=.*ubuntu' /etc/os-release; }

# the browser the end-to-end tests drive (tests/web/conftest.py looks for the same names)
has_chromium() {
  [ -n "${PLANUNGSDATEN_CHROMIUM:-}" ] && return 0
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}
# Ubuntu's chromium-browser is a stub that starts the chromium snap, and fails without it
snap_stub() {
  is_ubuntu && [ -z "${PLANUNGSDATEN_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 \
    && command -v chromium-browser >/dev/null 2>&1 && ! chromium-browser --version >/dev/null 2>&1
}

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

need_pg=0; need_postgis=0; need_venv=0; need_gdal=0; need_browser=0
if [ $with_gdal -eq 1 ] && ! command -v ogr2ogr >/dev/null 2>&1; then need_gdal=1; fi
if [ $with_browser -eq 1 ] && ! has_chromium; then need_browser=1; fi
version=$(pg_version || true)
if [ -z "$version" ]; then need_pg=1
elif [ ! -f "/usr/share/postgresql/$version/extension/postgis.control" ]; then need_postgis=1
fi
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then need_venv=1; fi

# Ubuntu has Chromium only as a snap (its chromium-browser package is a stub installing
# it), and snaps do not run in containers: say what to do instead of failing in apt-get
if [ $with_browser -eq 1 ] && is_ubuntu && { [ $need_browser -eq 1 ] || snap_stub; }; then
  need_browser=0
  echo "No usable Chromium for the browser tests (tests/web). Ubuntu ships it only as a" >&2
  echo "snap (chromium-browser is a stub that needs snapd, which containers lack). Install" >&2
  echo "a Chromium or Chrome build from elsewhere (e.g. Debian's chromium package, Google's" >&2
  echo "google-chrome-stable) and set PLANUNGSDATEN_CHROMIUM=/path/to/chrome; until then the" >&2
  echo "browser tests are skipped (and fail under CI=true)." >&2
fi

if [ $need_pg -eq 0 ] && [ $need_postgis -eq 0 ] && [ $need_venv -eq 0 ] && [ $need_gdal -eq 0 ] \
  && [ $need_browser -eq 0 ]; then
  exit 0
fi

if ! is_debian || ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages and this is not Debian/Ubuntu. Please install:" >&2
  [ $need_pg -eq 1 ] && echo "  - PostgreSQL >= 14 server (initdb, pg_ctl)" >&2
  [ $need_pg -eq 1 ] || [ $need_postgis -eq 1 ] && echo "  - PostGIS 3 for that PostgreSQL" >&2
  [ $need_venv -eq 1 ] && echo "  - the venv/ensurepip module for $python" >&2
  [ $need_gdal -eq 1 ] && echo "  - GDAL's command line tools (ogr2ogr)" >&2
  [ $need_browser -eq 1 ] && echo "  - Chromium (for the browser tests; or set PLANUNGSDATEN_CHROMIUM)" >&2
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
if [ $need_browser -eq 1 ]; then
  # Debian's own build: Playwright drives it and never downloads a browser
  apt_install chromium
fi
