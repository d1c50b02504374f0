"""A project-owned PostgreSQL + PostGIS cluster: the embedded default when no URL is configured.

The cluster listens on 127.0.0.1 only (no Unix socket), on a free port, with a generated
password. As root it runs as the `postgres` system user, because initdb refuses root.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from planungsdaten.db.errors import (
    ClusterError,
    PostgisNotInstalledError,
    PostgresNotInstalledError,
)
from planungsdaten.settings import Settings

log = logging.getLogger(__name__)

SYSTEM_USER = "postgres"
_FALLBACK_ROOT = Path("/var/lib/postgresql/planungsdaten")


@dataclass(frozen=True)
class PostgresInstallation:
    """Server binaries of one PostgreSQL major version that has PostGIS."""

    bindir: Path
    major: int


def _major_version(bindir: Path) -> int:
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if not match:
        raise PostgresNotInstalledError(f"cannot read the PostgreSQL version from {out!r}")
    return int(match.group(1))


def _has_postgis(bindir: Path, major: int) -> bool:
    candidates = [
        Path(f"/usr/share/postgresql/{major}/extension"),  # Debian/Ubuntu layout
        bindir.parent / "share" / "extension",
        bindir.parent / "share" / "postgresql" / "extension",
    ]
    return any((d / "postgis.control").exists() for d in candidates)


def _candidate_bindirs(preferred: Path | None) -> list[Path]:
    if preferred is not None:
        return [preferred]
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for tool in ("pg_ctl", "initdb"):
        path = shutil.which(tool)
        if path:
            found.append(Path(path).resolve().parent)
    return found


def find_installation(preferred: Path | None = None) -> PostgresInstallation:
    """The newest PostgreSQL installation that has both server binaries and PostGIS."""
    without_postgis: list[int] = []
    for bindir in _candidate_bindirs(preferred):
        if not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
            continue
        major = _major_version(bindir)
        if _has_postgis(bindir, major):
            return PostgresInstallation(bindir=bindir, major=major)
        without_postgis.append(major)
    if without_postgis:
        version = without_postgis[0]
        raise PostgisNotInstalledError(
            f"PostgreSQL {version} is installed but PostGIS is not. On Debian/Ubuntu run "
            f"`sudo apt-get install postgresql-{version}-postgis-3` (or `make run`, which does)."
        )
    raise PostgresNotInstalledError(
        "No PostgreSQL server found (initdb/pg_ctl). On Debian/Ubuntu run `sudo apt-get install "
        "postgresql postgis` (or `make run`, which does); elsewhere install PostgreSQL >= 14 "
        "with PostGIS 3, or set PLANUNGSDATEN_DATABASE_URL to an existing PostGIS database."
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _traversable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether a process with uid/gid can reach `path` (every ancestor searchable)."""
    for ancestor in [path, *path.parents]:
        if not ancestor.exists():
            continue
        st = ancestor.stat()
        if st.st_uid == uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == gid:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


class ManagedCluster:
    """initdb, start, stop and connect to a cluster kept in `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        bindir: Path | None = None,
        port: int | None = None,
        database: str = "planungsdaten",
        user: str = "planungsdaten",
        start_timeout_s: int = 60,
    ) -> None:
        self.link = data_dir.absolute()
        self.installation = find_installation(bindir)
        self.database = database
        self.user = user
        self.requested_port = port
        self.start_timeout_s = start_timeout_s
        self.run_as = SYSTEM_USER if os.geteuid() == 0 else None
        self.password_file = self.link.with_name(self.link.name + ".password")
        self.port_file = self.link.with_name(self.link.name + ".port")

    # -- paths and state -------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        """The real directory (`link` may be a symlink to a place the postgres user can reach)."""
        return self.link.resolve() if self.link.is_symlink() else self.link

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    def _tool(self, name: str) -> str:
        return str(self.installation.bindir / name)

    def _run(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(  # type: ignore[call-overload]
                args,
                user=self.run_as,
                capture_output=True,
                text=True,
                check=True,
                cwd="/",
                **kwargs,
            )
        except subprocess.CalledProcessError as e:
            detail = (e.stderr or e.stdout or "").strip()
            raise ClusterError(f"{Path(args[0]).name} failed: {detail}") from e

    def _system_user_ids(self) -> tuple[int, int]:
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError as e:
            raise ClusterError(
                f"Running as root, the cluster must run as the '{SYSTEM_USER}' system user, "
                "which does not exist. Install PostgreSQL from the OS packages (it creates the "
                "user) or run as an ordinary user."
            ) from e
        return entry.pw_uid, entry.pw_gid

    def _prepare_directory(self) -> Path:
        """Create the data directory, owned by the user the server runs as."""
        self.link.parent.mkdir(parents=True, exist_ok=True)
        if self.run_as is None:
            self.link.mkdir(mode=0o700, exist_ok=True)
            return self.link
        uid, gid = self._system_user_ids()
        target = self.link
        if not _traversable_by(self.link.parent, uid, gid):
            # The project lies where the postgres user cannot reach (e.g. a 0700 home or
            # mktemp dir): keep the cluster in a place it can reach and link it here.
            digest = hashlib.sha256(str(self.link).encode()).hexdigest()[:16]
            target = _FALLBACK_ROOT / digest
            _FALLBACK_ROOT.mkdir(parents=True, exist_ok=True)
            os.chown(_FALLBACK_ROOT, uid, gid)
            if self.link.is_symlink() or self.link.exists():
                self.link.unlink()
            self.link.symlink_to(target)
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(target, uid, gid)
        return target

    # -- lifecycle -------------------------------------------------------------------------

    def init(self) -> None:
        """initdb once; the superuser gets a generated password kept beside the cluster."""
        if self.initialised:
            return
        target = self._prepare_directory()
        password = secrets.token_urlsafe(24)
        # initdb wants an empty directory: the password file goes elsewhere, readable by
        # the server user only
        fd, name = tempfile.mkstemp(prefix="planungsdaten-initdb-")
        pwfile = Path(name)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        if self.run_as is not None:
            uid, gid = self._system_user_ids()
            os.chown(pwfile, uid, gid)
        try:
            self._run(
                [
                    self._tool("initdb"),
                    "-D",
                    str(target),
                    "-U",
                    self.user,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.password_file.write_text(password + "\n")
        self.password_file.chmod(0o600)
        log.info("initialised PostgreSQL %s cluster in %s", self.installation.major, target)

    def running_port(self) -> int | None:
        """The port of the running postmaster, or None when the cluster is stopped."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        status = subprocess.run(
            [self._tool("pg_ctl"), "status", "-D", str(self.data_dir)],
            user=self.run_as,
            capture_output=True,
            text=True,
            cwd="/",
        )
        if status.returncode != 0 or len(lines) < 4:
            return None
        return int(lines[3])

    def _choose_port(self) -> int:
        if self.requested_port is not None:
            return self.requested_port
        try:
            previous = int(self.port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            previous = 0
        port = previous if previous and _port_is_free(previous) else free_port()
        self.port_file.write_text(f"{port}\n")
        return port

    def start(self) -> bool:
        """Start the server unless it runs; True when this call started it."""
        self.init()
        if self.running_port() is not None:
            return False
        port = self._choose_port()
        options = f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        try:
            self._run(
                [
                    self._tool("pg_ctl"),
                    "start",
                    *("-D", str(self.data_dir), "-l", str(self.log_file)),
                    *("-w", "-t", str(self.start_timeout_s), "-o", options),
                ],
                # own session: Ctrl-C in the terminal reaches the service, which then stops
                # the cluster in order, instead of killing the postmaster underneath it
                start_new_session=True,
            )
        except ClusterError as e:
            tail = ""
            with contextlib.suppress(OSError):
                tail = "\n".join(self.log_file.read_text().splitlines()[-10:])
            raise ClusterError(f"PostgreSQL did not start on port {port}: {e}\n{tail}") from e
        log.info("PostgreSQL started on 127.0.0.1:%d", port)
        self._ensure_database(port)
        return True

    def stop(self) -> None:
        """Fast shutdown: rolls back open transactions, writes a checkpoint."""
        if self.running_port() is None:
            return
        self._run([self._tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"])
        log.info("PostgreSQL stopped")

    def destroy(self) -> None:
        """Stop and delete the cluster and its password (tests, `make clean`)."""
        self.stop()
        real = self.data_dir
        if self.link.is_symlink():
            self.link.unlink()
        shutil.rmtree(real, ignore_errors=True)
        self.password_file.unlink(missing_ok=True)
        self.port_file.unlink(missing_ok=True)

    # -- connecting ------------------------------------------------------------------------

    def url(self, database: str | None = None) -> str:
        """postgresql:// URL of the running cluster."""
        port = self.running_port()
        if port is None:
            raise ClusterError(f"the cluster in {self.link} is not running")
        password = self.password_file.read_text().strip()
        return (
            f"postgresql://{quote(self.user)}:{quote(password, safe='')}"
            f"@127.0.0.1:{port}/{quote(database or self.database)}"
        )

    def _ensure_database(self, port: int) -> None:
        import psycopg
        from psycopg import sql

        admin_url = self.url("postgres")
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        """Run the cluster for the duration of the block; stop it only if the block started it."""
        started = self.start()
        try:
            yield self.url()
        finally:
            if started:
                self.stop()


def cluster_from_settings(settings: Settings) -> ManagedCluster:
    """The managed cluster as configured (`PLANUNGSDATEN_CLUSTER_*`)."""
    return ManagedCluster(
        settings.cluster_dir,
        bindir=settings.cluster.pg_bindir,
        port=settings.cluster.port,
        database=settings.cluster.database,
        user=settings.cluster.user,
        start_timeout_s=settings.cluster.start_timeout_s,
    )
