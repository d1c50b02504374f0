"""The managed cluster: initdb once, start, stop, restart with the data kept."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from planungsdaten.db.cluster import ManagedCluster, find_installation


@pytest.fixture
def cluster_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="planungsdaten-cluster-"))
    root.chmod(0o755)
    yield root
    ManagedCluster(root / "pg").destroy()
    for leftover in root.iterdir():
        leftover.unlink()
    root.rmdir()


def test_installation_has_postgis() -> None:
    installation = find_installation()
    assert (installation.bindir / "initdb").exists()
    assert installation.major >= 13


def test_restart_keeps_data_and_running_stops_only_what_it_started(cluster_root: Path) -> None:
    cluster = ManagedCluster(cluster_root / "pg")
    assert not cluster.initialised
    with cluster.running() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (v text)")
            conn.execute("INSERT INTO kept VALUES ('Mücheln')")
        assert url.startswith("postgresql://planungsdaten:")
        assert "@127.0.0.1:" in url
    assert cluster.running_port() is None, "running() must stop a cluster it started"

    assert cluster.start() is True
    try:
        # a second start while it runs reuses the server, and a block around it leaves it up
        assert cluster.start() is False
        with cluster.running() as url, psycopg.connect(url) as conn:
            assert conn.execute("SELECT v FROM kept").fetchone() == ("Mücheln",)
        assert cluster.running_port() is not None
    finally:
        cluster.stop()
    assert cluster.running_port() is None


def test_password_is_required(cluster_root: Path) -> None:
    cluster = ManagedCluster(cluster_root / "pg")
    with cluster.running() as url:
        wrong = url.replace(url.split(":")[2].split("@")[0], "wrong-password")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong)
    assert (cluster_root / "pg.password").stat().st_mode & 0o077 == 0
