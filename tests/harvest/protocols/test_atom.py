"""resolve_atom(): service feed → dataset feed → download links, with CRS filter."""

from __future__ import annotations

from pathlib import Path

import pytest

from planungsdaten.harvest.errors import FetchError
from planungsdaten.harvest.protocols.atom import resolve_atom
from planungsdaten.settings import HarvestSettings
from tests.harvest.conftest import LocalServer, Reply

UTM32 = "http://www.opengis.net/def/crs/EPSG/0/25832"
ETRS89 = "http://www.opengis.net/def/crs/EPSG/0/4258"
NAMESPACES = (
    'xmlns="http://www.w3.org/2005/Atom" '
    'xmlns:inspire_dls="http://inspire.ec.europa.eu/schemas/inspire_dls/1.0"'
)


def _service_entry(code: str, feed: str) -> str:
    return f"""
  <entry>
    <title>{code}</title>
    <inspire_dls:spatial_dataset_identifier_code>{code}</inspire_dls:spatial_dataset_identifier_code>
    <inspire_dls:spatial_dataset_identifier_namespace>https://registry.gdi-de.org/id/de.st/</inspire_dls:spatial_dataset_identifier_namespace>
    <link rel="describedby" type="application/xml" href="https://csw.example/{code}.xml"/>
    <link rel="alternate" type="application/atom+xml" href="{feed}"/>
    <id>https://example/{code}</id>
    <category term="{UTM32}" label="ETRS89 / UTM zone 32N"/>
  </entry>"""


def _service_feed(*entries: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}\n<feed {NAMESPACES}>\n'
        "  <title>Downloaddienst</title>" + "".join(entries) + "\n</feed>"
    ).encode()


DATASET_FEED = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed {NAMESPACES}>
  <title>ALKIS vereinfacht</title>
  <link rel="describedby" href="https://csw.example/alkis.xml"/>
  <entry>
    <title>ALKIS in EPSG:25832</title>
    <link rel="alternate" type="application/zip" href="../files/alkis_25832.zip"/>
    <category term="{UTM32}" label="ETRS89 / UTM zone 32N"/>
  </entry>
  <entry>
    <title>ALKIS in EPSG:4258</title>
    <link rel="alternate" type="application/zip" href="https://download.example/alkis_4258.zip"/>
    <category term="{ETRS89}" label="ETRS89"/>
  </entry>
</feed>""".encode()


def _serve(server: LocalServer) -> str:
    server.route(
        "/atom/service.xml",
        Reply(
            body=_service_feed(
                _service_entry("DEST_DOP20", "datasets/dop.xml"),
                _service_entry("DEST_ALKIS", "datasets/alkis.xml"),
            )
        ),
    )
    server.route("/atom/datasets/alkis.xml", Reply(body=DATASET_FEED))
    return server.url("/atom/service.xml")


def test_service_feed_to_download_links(
    http_server: LocalServer, harvest_settings: HarvestSettings
) -> None:
    url = _serve(http_server)
    links = resolve_atom(url, settings=harvest_settings, dataset_id="DEST_ALKIS")
    assert links == [
        http_server.url("/atom/files/alkis_25832.zip"),
        "https://download.example/alkis_4258.zip",
    ]
    assert len(http_server.requests_for("/atom/datasets/alkis.xml")) == 1


@pytest.mark.parametrize("crs", [UTM32, "EPSG:25832", "urn:ogc:def:crs:EPSG::25832"])
def test_crs_filter_picks_one(
    crs: str, http_server: LocalServer, harvest_settings: HarvestSettings
) -> None:
    url = _serve(http_server)
    links = resolve_atom(url, settings=harvest_settings, dataset_id="DEST_ALKIS", crs=crs)
    assert links == [http_server.url("/atom/files/alkis_25832.zip")]


def test_unknown_crs_names_the_offered_ones(
    http_server: LocalServer, harvest_settings: HarvestSettings
) -> None:
    url = _serve(http_server)
    with pytest.raises(FetchError, match=r"EPSG:3035.*angeboten: EPSG:25832, EPSG:4258"):
        resolve_atom(url, settings=harvest_settings, dataset_id="DEST_ALKIS", crs="EPSG:3035")


def test_dataset_id_with_namespace(
    http_server: LocalServer, harvest_settings: HarvestSettings
) -> None:
    url = _serve(http_server)
    dataset_id = "https://registry.gdi-de.org/id/de.st/DEST_ALKIS"
    assert len(resolve_atom(url, settings=harvest_settings, dataset_id=dataset_id)) == 2


def test_choice_needed_or_unknown_id(
    http_server: LocalServer, harvest_settings: HarvestSettings
) -> None:
    url = _serve(http_server)
    with pytest.raises(FetchError, match=r"2 Datensätze an \(DEST_DOP20, DEST_ALKIS\)"):
        resolve_atom(url, settings=harvest_settings)
    with pytest.raises(FetchError, match=r"Kennung DEST_XYZ.*DEST_DOP20, DEST_ALKIS"):
        resolve_atom(url, settings=harvest_settings, dataset_id="DEST_XYZ")


def test_single_entry_and_section_links(
    http_server: LocalServer, harvest_settings: HarvestSettings
) -> None:
    http_server.route(
        "/svc.xml", Reply(body=_service_feed(_service_entry("DEST_ZENSUS", "/zensus.xml")))
    )
    sections = "".join(
        f'<link rel="section" type="application/zip" href="kachel_{i}.zip"/>' for i in range(3)
    )
    http_server.route(
        "/zensus.xml",
        Reply(
            body=(
                f"<feed {NAMESPACES}><entry><title>Zensus</title>"
                f'<link rel="alternate" type="application/atom+xml" href="/other.xml"/>'
                f"{sections}</entry></feed>"
            ).encode()
        ),
    )
    links = resolve_atom(http_server.url("/svc.xml"), settings=harvest_settings)
    assert links == [http_server.url(f"/kachel_{i}.zip") for i in range(3)]


def test_entities_are_not_expanded(
    http_server: LocalServer,
    harvest_settings: HarvestSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the second line of defence, with the DOCTYPE check (test_hostile.py) out of the way
    monkeypatch.setattr("planungsdaten.harvest.protocols.atom.refuse_dtd", lambda *_: None)
    secret = tmp_path / "secret.txt"
    secret.write_text("GEHEIM")
    prolog = f'\n<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    http_server.route(
        "/svc.xml",
        Reply(
            body=_service_feed(
                _service_entry("A", "/a.xml").replace(">A</", ">A&xxe;</"),
                _service_entry("B", "/b.xml"),
                prolog=prolog,
            )
        ),
    )
    with pytest.raises(FetchError) as info:
        resolve_atom(http_server.url("/svc.xml"), settings=harvest_settings)
    assert "GEHEIM" not in str(info.value)
    assert "Datensätze" in str(info.value)


def test_not_an_atom_feed(http_server: LocalServer, harvest_settings: HarvestSettings) -> None:
    http_server.route("/svc.xml", Reply(body=b"<html><body>Wartung</body></html>"))
    with pytest.raises(FetchError, match="kein ATOM-Feed"):
        resolve_atom(http_server.url("/svc.xml"), settings=harvest_settings)
