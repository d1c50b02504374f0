"""fetch_wfs(): STARTINDEX/COUNT paging, one file per page, exception reports."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from lxml import etree

from planungsdaten.harvest.errors import FetchError
from planungsdaten.harvest.protocols.wfs import combined_sha256, fetch_wfs
from planungsdaten.settings import HarvestSettings
from tests.harvest.conftest import LocalServer, Reply, Responder, Seen

WFS_NS = "http://www.opengis.net/wfs/2.0"

EXCEPTION_REPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="2.0.0">
  <ows:Exception exceptionCode="InvalidParameterValue" locator="typeNames">
    <ows:ExceptionText>Feature type ave:Flurstuek unknown</ows:ExceptionText>
  </ows:Exception>
</ows:ExceptionReport>"""


def _collection(start: int, stop: int, matched: str) -> bytes:
    members = "".join(
        f'<wfs:member><ave:Flurstueck gml:id="f{i}"><ave:flstkennz>{i:020d}</ave:flstkennz>'
        "</ave:Flurstueck></wfs:member>"
        for i in range(start, stop)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<wfs:FeatureCollection xmlns:wfs="{WFS_NS}" '
        'xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:ave="http://repository.gdi-de.org/ave" '
        f'numberMatched="{matched}" numberReturned="{stop - start}">{members}'
        "</wfs:FeatureCollection>"
    ).encode()


def _wfs(total: int, *, matched: str | None = None, cap: int | None = None) -> Responder:
    """A WFS serving `total` features, pages capped at `cap` when given."""

    def respond(seen: Seen) -> Reply:
        start = int(seen.param("STARTINDEX") or 0)
        count = int(seen.param("COUNT") or total)
        if cap is not None:
            count = min(count, cap)
        stop = min(start + count, total)
        body = _collection(start, max(start, stop), matched or str(total))
        return Reply(body=body, headers={"Content-Type": "application/gml+xml; version=3.2"})

    return respond


def _members(path: Path) -> int:
    root = etree.parse(str(path)).getroot()
    return len(root.findall(f"{{{WFS_NS}}}member"))


def test_pages_of_ten_over_23_features(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/wfs", _wfs(23))
    pages = fetch_wfs(
        http_server.url("/wfs"),
        "ave:Flurstueck",
        tmp_path,
        settings=harvest_settings,
        page_size=10,
        srs_name="EPSG:25832",
    )
    requests = http_server.requests_for("/wfs")
    assert [r.param("STARTINDEX") for r in requests] == ["0", "10", "20"]
    for request in requests:
        assert request.param("SERVICE") == "WFS"
        assert request.param("VERSION") == "2.0.0"
        assert request.param("REQUEST") == "GetFeature"
        assert request.param("TYPENAMES") == "ave:Flurstueck"
        assert request.param("COUNT") == "10"
        assert request.param("SRSNAME") == "EPSG:25832"
        assert request.param("OUTPUTFORMAT") is None
    assert len({p.path for p in pages}) == 3
    assert all(p.path.is_file() and p.path.suffix == ".gml" for p in pages)
    assert [_members(p.path) for p in pages] == [10, 10, 3]
    assert [p.path.name.split("-", 1)[1] for p in pages] == [
        "ave_Flurstueck-00001.gml",
        "ave_Flurstueck-00002.gml",
        "ave_Flurstueck-00003.gml",
    ]


def test_number_matched_unknown_stops_on_a_short_page(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/wfs", _wfs(23, matched="unknown"))
    pages = fetch_wfs(
        http_server.url("/wfs"), "ave:Flurstueck", tmp_path, settings=harvest_settings, page_size=10
    )
    assert [r.param("STARTINDEX") for r in http_server.requests_for("/wfs")] == ["0", "10", "20"]
    assert len(pages) == 3


def test_server_limit_below_page_size_is_followed(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/wfs", _wfs(23, cap=5))
    pages = fetch_wfs(
        http_server.url("/wfs"), "ave:Flurstueck", tmp_path, settings=harvest_settings, page_size=10
    )
    starts = [r.param("STARTINDEX") for r in http_server.requests_for("/wfs")]
    assert starts == ["0", "5", "10", "15", "20"]
    assert sum(_members(p.path) for p in pages) == 23


def test_fewer_features_than_number_matched_fails(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/wfs", _wfs(23, matched="30"))
    with pytest.raises(FetchError, match=r"nur 23 von 30 Objekten"):
        fetch_wfs(
            http_server.url("/wfs"),
            "ave:Flurstueck",
            tmp_path,
            settings=harvest_settings,
            page_size=10,
        )


def test_ignored_startindex_is_detected(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/wfs", Reply(body=_collection(0, 10, "unknown")))
    with pytest.raises(FetchError, match="STARTINDEX nicht"):
        fetch_wfs(
            http_server.url("/wfs"),
            "ave:Flurstueck",
            tmp_path,
            settings=harvest_settings,
            page_size=10,
        )
    assert len(http_server.requests_for("/wfs")) == 2


@pytest.mark.parametrize("status", [200, 400])
def test_exception_report_fails_with_its_text(
    status: int, http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/wfs", Reply(status=status, body=EXCEPTION_REPORT))
    with pytest.raises(FetchError, match="Feature type ave:Flurstuek unknown"):
        fetch_wfs(http_server.url("/wfs"), "ave:Flurstuek", tmp_path, settings=harvest_settings)
    assert len(http_server.requests_for("/wfs")) == 1
    assert list(tmp_path.iterdir()) == []


def test_existing_query_is_kept_without_duplicates(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/wfs", _wfs(3))
    fetch_wfs(
        http_server.url("/wfs?map=alkis&service=wfs"),
        "ave:Nutzung",
        tmp_path,
        settings=harvest_settings,
        output_format="application/gml+xml; version=3.2",
    )
    query = http_server.requests_for("/wfs")[0].query
    keys = [k for k, _ in query]
    assert ("map", "alkis") in query
    assert [k for k in keys if k.upper() == "SERVICE"] == ["SERVICE"]
    assert ("OUTPUTFORMAT", "application/gml+xml; version=3.2") in query


def test_json_pages(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    def respond(seen: Seen) -> Reply:
        start = int(seen.param("STARTINDEX") or 0)
        features = ",".join(
            '{"type":"Feature","properties":{},"geometry":null}'
            for _ in range(max(0, min(10, 15 - start)))
        )
        return Reply(body=f'{{"type":"FeatureCollection","features":[{features}]}}'.encode())

    http_server.route("/wfs", respond)
    pages = fetch_wfs(
        http_server.url("/wfs"),
        "ave:Nutzung",
        tmp_path,
        settings=harvest_settings,
        page_size=10,
        output_format="application/json",
    )
    assert [p.path.suffix for p in pages] == [".json", ".json"]


def test_combined_sha256_is_stable_and_order_sensitive(
    http_server: LocalServer, harvest_settings: HarvestSettings, tmp_path: Path
) -> None:
    http_server.route("/wfs", _wfs(23))
    url = http_server.url("/wfs")
    pages = fetch_wfs(url, "ave:Flurstueck", tmp_path, settings=harvest_settings, page_size=10)
    again = fetch_wfs(url, "ave:Flurstueck", tmp_path, settings=harvest_settings, page_size=10)
    assert combined_sha256(pages) == combined_sha256(again)
    assert combined_sha256(pages) != combined_sha256(list(reversed(pages)))
    assert combined_sha256(pages) != combined_sha256(pages[:2])
    assert [p.sha256 for p in pages] == [
        hashlib.sha256(p.path.read_bytes()).hexdigest() for p in pages
    ]
