"""download(): retries, timeouts, dropped connections, size limits, conditional GET."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from planungsdaten.harvest.errors import FetchError
from planungsdaten.harvest.protocols.http import HttpCache, HttpStatusError, download
from planungsdaten.settings import HarvestSettings
from tests.harvest.conftest import LocalServer, Reply, conditional

PAYLOAD = os.urandom(300_000)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_streams_to_a_file_named_by_checksum(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/data/grid.csv", Reply(body=PAYLOAD, headers={"ETag": '"v1"'}))
    result = download(http_server.url("/data/grid.csv"), tmp_path, settings=harvest_settings)
    expected = hashlib.sha256(PAYLOAD).hexdigest()
    assert result.sha256 == expected
    assert result.path == tmp_path / f"{expected[:16]}-grid.csv"
    assert result.path.read_bytes() == PAYLOAD
    assert result.size == len(PAYLOAD)
    assert result.etag == '"v1"'
    assert not result.not_modified
    assert _files(tmp_path) == [result.path.name]


def test_500_twice_then_200_succeeds(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/f.zip", Reply(status=500), Reply(status=500), Reply(body=PAYLOAD))
    result = download(http_server.url("/f.zip"), tmp_path, settings=harvest_settings)
    assert result.path.read_bytes() == PAYLOAD
    assert len(http_server.requests_for("/f.zip")) == 3


def test_always_500_fails_naming_the_attempts(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/f.zip", Reply(status=500, body=b"kaputt"))
    url = http_server.url("/f.zip")
    with pytest.raises(FetchError, match=r"Server antwortete 3-mal mit HTTP 500") as info:
        download(url, tmp_path, settings=harvest_settings)
    assert url in str(info.value)
    assert len(http_server.requests_for("/f.zip")) == 3
    assert _files(tmp_path) == []


def test_429_is_retried(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/f", Reply(status=429, headers={"Retry-After": "0"}), Reply(body=b"ok"))
    assert download(http_server.url("/f"), tmp_path, settings=harvest_settings).size == 2
    assert len(http_server.requests_for("/f")) == 2


def test_404_fails_at_once(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/missing.zip", Reply(status=404, body=b"gibt es nicht"))
    with pytest.raises(HttpStatusError, match=r"HTTP 404.*Adresse") as info:
        download(http_server.url("/missing.zip"), tmp_path, settings=harvest_settings)
    assert info.value.status == 404
    assert info.value.body == b"gibt es nicht"
    assert len(http_server.requests_for("/missing.zip")) == 1
    assert _files(tmp_path) == []


def test_stalling_server_times_out(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/slow", Reply(body=b"late", delay_s=10))
    settings = harvest_settings.model_copy(update={"http_timeout_s": 0.3, "http_retries": 1})
    started = time.monotonic()
    with pytest.raises(FetchError, match="Zeitüberschreitung"):
        download(http_server.url("/slow"), tmp_path, settings=settings)
    assert time.monotonic() - started < 3
    assert len(http_server.requests_for("/slow")) == 2
    assert _files(tmp_path) == []


def test_connection_dropped_mid_body_is_retried_then_fails(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    dropped = Reply(body=b"x" * 1000, content_length=1_000_000)
    http_server.route("/big.zip", dropped)
    with pytest.raises(FetchError, match=r"abgebrochen: Verbindung nach 1,0 kB unterbrochen"):
        download(http_server.url("/big.zip"), tmp_path, settings=harvest_settings)
    assert len(http_server.requests_for("/big.zip")) == 3
    assert _files(tmp_path) == []


def test_connection_dropped_once_then_complete(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/big.zip", Reply(body=PAYLOAD, drop_after=1000), Reply(body=PAYLOAD))
    result = download(http_server.url("/big.zip"), tmp_path, settings=harvest_settings)
    assert result.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert _files(tmp_path) == [result.path.name]


def test_etag_304_keeps_the_previous_file(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/f.gpkg", conditional(PAYLOAD, etag='"abc"'))
    url = http_server.url("/f.gpkg")
    first = download(url, tmp_path, settings=harvest_settings)
    previous = HttpCache(first.path, first.sha256, first.etag, first.last_modified)
    second = download(url, tmp_path, settings=harvest_settings, previous=previous)
    assert second.not_modified
    assert second.path == first.path
    assert second.sha256 == first.sha256
    assert second.size == len(PAYLOAD)
    assert http_server.requests_for("/f.gpkg")[1].headers["if-none-match"] == '"abc"'
    assert _files(tmp_path) == [first.path.name]


def test_last_modified_sends_if_modified_since(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    http_server.route("/f.csv", conditional(b"a;b\n", last_modified=stamp))
    url = http_server.url("/f.csv")
    first = download(url, tmp_path, settings=harvest_settings)
    assert first.last_modified == stamp
    previous = HttpCache(first.path, first.sha256, first.etag, first.last_modified)
    second = download(url, tmp_path, settings=harvest_settings, previous=previous)
    assert http_server.requests_for("/f.csv")[1].headers["if-modified-since"] == stamp
    assert "if-none-match" not in http_server.requests_for("/f.csv")[1].headers
    assert second.not_modified
    assert second.path == first.path


def test_changed_resource_is_downloaded_again(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/f", conditional(b"new", etag='"v2"'))
    old = tmp_path / "old-f"
    old.write_bytes(b"old")
    previous = HttpCache(old, hashlib.sha256(b"old").hexdigest(), '"v1"', None)
    result = download(http_server.url("/f"), tmp_path, settings=harvest_settings, previous=previous)
    assert not result.not_modified
    assert result.path.read_bytes() == b"new"
    assert result.etag == '"v2"'


def test_missing_previous_file_means_no_conditional_request(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/f", conditional(b"data", etag='"v1"'))
    previous = HttpCache(tmp_path / "gone", "0" * 64, '"v1"', None)
    result = download(http_server.url("/f"), tmp_path, settings=harvest_settings, previous=previous)
    assert not result.not_modified
    assert "if-none-match" not in http_server.requests_for("/f")[0].headers


def test_too_large_by_content_length(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/huge", Reply(body=b"z" * 5000))
    settings = harvest_settings.model_copy(update={"max_download_bytes": 2048})
    with pytest.raises(FetchError, match=r"größer als 2\.048 Bytes"):
        download(http_server.url("/huge"), tmp_path, settings=settings)
    assert len(http_server.requests_for("/huge")) == 1
    assert _files(tmp_path) == []


def test_too_large_while_streaming_without_length(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/huge", Reply(body=b"z" * 50_000, send_length=False))
    settings = harvest_settings.model_copy(update={"max_download_bytes": 2048})
    with pytest.raises(FetchError, match=r"größer als 2\.048 Bytes \(mehr als"):
        download(http_server.url("/huge"), tmp_path, settings=settings)
    assert len(http_server.requests_for("/huge")) == 1
    assert _files(tmp_path) == []


def test_overall_deadline(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/trickle", Reply(body=b"t" * 40 * 1024, chunk_delay_s=0.05))
    settings = harvest_settings.model_copy(update={"http_total_timeout_s": 0.5})
    started = time.monotonic()
    with pytest.raises(FetchError, match="Zeitüberschreitung – Gesamtdauer von 0,5 s"):
        download(http_server.url("/trickle"), tmp_path, settings=settings)
    assert time.monotonic() - started < 2
    assert _files(tmp_path) == []


def test_unreachable_server(harvest_settings: HarvestSettings, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError, match=r"nicht erreichbar.*nach 3 Versuchen"):
        download(f"http://127.0.0.1:{port}/f", tmp_path, settings=harvest_settings)


def test_params_are_merged_and_name_comes_from_content_disposition(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    disposition = "attachment; filename*=UTF-8''Bev%C3%B6lkerung%202022.zip"
    http_server.route("/export", Reply(body=b"PK", headers={"Content-Disposition": disposition}))
    result = download(
        http_server.url("/export?a=1"), tmp_path, settings=harvest_settings, params={"b": "2"}
    )
    assert http_server.requests_for("/export")[0].query == [("a", "1"), ("b", "2")]
    assert result.url == http_server.url("/export?a=1&b=2")
    assert result.path.name.endswith("-Bevölkerung_2022.zip")


def test_a_given_client_stays_open(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/f", Reply(body=b"one"))
    with httpx.Client() as client:
        download(http_server.url("/f"), tmp_path, settings=harvest_settings, client=client)
        assert not client.is_closed


def test_only_http_urls(harvest_settings: HarvestSettings, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="nur http"):
        download("ftp://example.org/f.zip", tmp_path, settings=harvest_settings)
