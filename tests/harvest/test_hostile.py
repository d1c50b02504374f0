"""Hostile input: XML with a DTD (XML bombs, XXE) and harvest URLs into internal networks
(SSRF). Each is refused as a failed run with a German message; nothing of the hostile input
(least of all the secret an XXE entity points at) reaches the database, and the previously
harvested version stays served."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import socket
import time
import zipfile
from pathlib import Path
from typing import Any

import pyogrio
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, text

from planungsdaten.harvest import hosts
from planungsdaten.harvest.errors import HarvestError
from planungsdaten.harvest.formats.spreadsheet import read_xlsx
from planungsdaten.harvest.hosts import HostNotAllowedError, check_url, host_allowed, non_public
from planungsdaten.harvest.protocols.wfs import exception_report
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import (
    AtomProtocol,
    FileProtocol,
    Format,
    HttpProtocol,
    Layer,
    OgcApiProtocol,
    SourceDefinition,
    WfsProtocol,
    load_source,
)
from planungsdaten.harvest.xmlsafety import MAX_PROLOG_BYTES, UnsafeXmlError, read_prolog
from planungsdaten.settings import PROJECT_DIR, HarvestSettings, Settings
from sample_data import generate, planning
from sample_data.generate import BOUNDARIES_FILE, boundaries
from tests.harvest.conftest import LocalServer, Reply
from tests.harvest.formats.test_nas import delivery, square

SAMPLE_DEFS = PROJECT_DIR / "harvesters" / "sample"
SECRET = "GEHEIM-4711-XXE"
PUBLIC_NAME = "daten.example.org"
PUBLIC_IP = "93.184.215.14"  # any global address: nothing ever connects to it


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A local file an XXE entity points at."""
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


def _dtd(attack: str, root: str, secret: Path) -> tuple[str, str]:
    """A DOCTYPE for `root` and the entity reference that sets the attack off."""
    if attack == "bomb":  # "billion laughs": 10^10 characters if expanded
        entities = '<!ENTITY l0 "hahahahaha">' + "".join(
            f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
        )
        return f"<!DOCTYPE {root} [{entities}]>", "&l9;"
    return f'<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>', "&xxe;"


def _with_dtd(xml: str, root: str, doctype: str) -> str:
    """`xml` with `doctype` right before its root element `<root`."""
    head, found, tail = xml.partition(f"<{root}")
    assert found, root
    return f"{head}{doctype}\n{found}{tail}"


def _served(engine: Engine, table: str) -> tuple[list[int], list[str]]:
    """What is served: the current dataset versions and every row of `table` as text."""
    with engine.connect() as conn:
        versions = conn.execute(
            text("SELECT id FROM dataset_version WHERE status = 'current' ORDER BY id")
        ).scalars()
        rows = conn.execute(text(f"SELECT t::text FROM {table} t ORDER BY 1")).scalars()
        return list(versions), list(rows)


def _failed_run(engine: Engine) -> str:
    """The message of the last run, which failed and loaded nothing."""
    with engine.connect() as conn:
        run = conn.execute(
            text("SELECT status, records_loaded, message FROM harvest_run ORDER BY id DESC")
        ).first()
    assert run is not None and run.status == "failed" and run.records_loaded == 0
    return str(run.message)


def _secret_nowhere(engine: Engine, table: str) -> None:
    """The secret is in no row of the target, the rejected records or the runs."""
    with engine.connect() as conn:
        for name in (table, "rejected_record", "repaired_record", "harvest_run", "source"):
            hits = conn.execute(
                text(f"SELECT count(*) FROM {name} t WHERE t::text LIKE :s"), {"s": f"%{SECRET}%"}
            ).scalar_one()
            assert hits == 0, name


def _with_harvest(settings: Settings, **changes: Any) -> Settings:
    """`settings` with harvest settings changed (validated, as from the environment)."""
    harvest_settings = HarvestSettings(
        **{**settings.harvest.model_dump(), "http_retries": 0, "http_timeout_s": 2.0, **changes}
    )
    return dataclasses.replace(settings, harvest=harvest_settings)


def _strict(settings: Settings) -> Settings:
    """The production defaults: no private networks, any public host."""
    return _with_harvest(settings, allow_private_networks=False, allowed_hosts=[])


# -- 1. XML with a DTD -----------------------------------------------------------------------


def _building(gml_id: str, x: float, name: str) -> str:
    return (
        f'<adv:AX_Gebaeude gml:id="{gml_id}"><gml:identifier>urn:adv:oid:{gml_id}</gml:identifier>'
        f"<adv:position>{square(x, 5_688_600, 12, f'{gml_id}s')}</adv:position>"
        f"<adv:gebaeudefunktion>3021</adv:gebaeudefunktion><adv:name>{name}</adv:name>"
        "</adv:AX_Gebaeude>"
    )


def _nas_source(path: Path) -> SourceDefinition:
    return SourceDefinition(
        id="nas-gebaeude",
        title="Gebäude (NAS)",
        publisher="Stadt Mücheln (Geiseltal)",
        licence="http://dcat-ap.de/def/licenses/dl-zero-de/2.0",
        attribution="Stadt Mücheln (Geiseltal)",
        access="open",
        protocol=FileProtocol(type="file", path=path),
        format=Format(type="nas"),
        layers=[
            Layer(
                layer="AX_Gebaeude",
                target="building",
                mapping={
                    "source_object_id": "gml_id",
                    "function_code": "gebaeudefunktion",
                    "name": "name",
                },
            )
        ],
    )


@pytest.mark.parametrize("attack", ["bomb", "xxe"])
def test_nas_with_a_dtd_is_refused(
    engine: Engine, settings: Settings, tmp_path: Path, secret: Path, attack: str
) -> None:
    good = tmp_path / "gebaeude.xml"
    good.write_text(
        delivery(
            _building("DESTAL0000000001", 695_000, "Grundschule"),
            _building("DESTAL0000000002", 695_100, "Rathaus"),
        ),
        encoding="utf-8",
    )
    assert harvest(engine, _nas_source(good), settings).loaded == 2
    before = _served(engine, "building")

    doctype, reference = _dtd(attack, "adv:AX_Bestandsdatenauszug", secret)
    hostile = tmp_path / "feindlich.xml"
    hostile.write_text(
        _with_dtd(
            delivery(
                _building("DESTAL0000000001", 695_000, reference),
                _building("DESTAL0000000003", 695_200, "Freibad"),
            ),
            "adv:AX_Bestandsdatenauszug",
            doctype,
        ),
        encoding="utf-8",
    )
    started = time.monotonic()
    with pytest.raises(UnsafeXmlError):
        harvest(engine, _nas_source(hostile), settings)
    assert time.monotonic() - started < 10  # nothing was expanded
    message = _failed_run(engine)
    assert message.startswith(
        "NAS-Datei feindlich.xml enthält eine DTD (<!DOCTYPE adv:AX_Bestandsdatenauszug …>) "
        "mit Entitäten – aus Sicherheitsgründen nicht gelesen (XML-Bombe/XXE)"
    )
    assert _served(engine, "building") == before
    _secret_nowhere(engine, "building")


def _xplan_source(path: Path) -> SourceDefinition:
    return load_source(SAMPLE_DEFS / "xplan.yaml").model_copy(
        update={"protocol": FileProtocol(type="file", path=path)}
    )


@pytest.mark.parametrize("container", ["gml", "zip"])
@pytest.mark.parametrize("attack", ["bomb", "xxe"])
def test_xplan_with_a_dtd_is_refused(
    engine: Engine,
    settings: Settings,
    sample_dir: Path,
    tmp_path: Path,
    secret: Path,
    attack: str,
    container: str,
) -> None:
    sample = sample_dir / planning.XPLAN_FILE
    assert harvest(engine, _xplan_source(sample), settings).loaded == 1
    before = _served(engine, "development_plan")

    doctype, reference = _dtd(attack, "xplan:XPlanAuszug", secret)
    xml = re.sub(
        r"<xplan:name>[^<]*</xplan:name>",
        f"<xplan:name>{reference}</xplan:name>",
        sample.read_text(encoding="utf-8"),
    )
    hostile_xml = _with_dtd(xml, "xplan:XPlanAuszug", doctype).encode()
    if container == "gml":
        hostile = tmp_path / "feindlich.gml"
        hostile.write_bytes(hostile_xml)
        label = "XPlanGML-Datei feindlich.gml"
    else:
        hostile = tmp_path / "feindlich.zip"
        with zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("xplan.gml", hostile_xml)
        label = "XPlanGML-Datei xplan.gml im XPlanArchiv feindlich.zip"
    with pytest.raises(UnsafeXmlError):
        harvest(engine, _xplan_source(hostile), settings)
    assert _failed_run(engine).startswith(f"{label} enthält eine DTD (<!DOCTYPE xplan:XPlanAuszug")
    assert _served(engine, "development_plan") == before
    _secret_nowhere(engine, "development_plan")


def _gml_source(
    sample_source: SourceDefinition, path: Path, where: str | None = "GF = 4"
) -> SourceDefinition:
    return sample_source.model_copy(
        update={
            "protocol": FileProtocol(type="file", path=path),
            "format": Format(type="gml", layer="vg250_gem", where=where),
        }
    )


def test_gml_with_a_dtd_is_refused_before_gdal_reads_it(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    tmp_path: Path,
    secret: Path,
) -> None:
    good = tmp_path / "gemeinden.gml"
    pyogrio.write_dataframe(boundaries(), good, layer="vg250_gem", driver="GML")
    assert harvest(engine, _gml_source(sample_source, good), settings).loaded == 8
    before = _served(engine, "municipality")

    doctype, reference = _dtd("xxe", "ogr:FeatureCollection", secret)
    xml = good.read_text(encoding="utf-8").replace("Mücheln (Geiseltal)", reference)
    hostile = tmp_path / "feindlich.gml"
    hostile.write_text(_with_dtd(xml, "ogr:FeatureCollection", doctype), encoding="utf-8")
    with pytest.raises(UnsafeXmlError):
        harvest(engine, _gml_source(sample_source, hostile), settings)
    assert _failed_run(engine).startswith("feindlich.gml enthält eine DTD")
    assert _served(engine, "municipality") == before
    _secret_nowhere(engine, "municipality")


@pytest.mark.parametrize("zipped", [False, True])
def test_gdal_vrt_disguised_as_gml_is_refused(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    tmp_path: Path,
    zipped: bool,
) -> None:
    # GDAL picks the driver by content: an OGR VRT would read any local file (or URL) the
    # server names, and its rows would land in the table or in the rejected records
    harvest(engine, sample_source, settings)
    before = _served(engine, "municipality")
    secret_csv = tmp_path / "intern.csv"
    secret_csv.write_text(
        f'AGS,ARS,GEN,GF,WKT\n15088235,150885235235,{SECRET},4,"POINT (695000 5688600)"\n',
        encoding="utf-8",
    )
    vrt = (
        '<OGRVRTDataSource><OGRVRTLayer name="vg250_gem">'
        f"<SrcDataSource>{secret_csv}</SrcDataSource><SrcLayer>intern</SrcLayer>"
        '<GeometryField encoding="WKT" field="WKT"/><LayerSRS>EPSG:25832</LayerSRS>'
        "</OGRVRTLayer></OGRVRTDataSource>"
    )
    hostile = tmp_path / "gemeinden.gml"
    hostile.write_text(vrt, encoding="utf-8")
    if zipped:
        archive_path = tmp_path / "gemeinden.zip"
        with zipfile.ZipFile(archive_path, "w") as archive:
            archive.write(hostile, "daten.gml")
        hostile = archive_path
    with pytest.raises(UnsafeXmlError):
        harvest(engine, _gml_source(sample_source, hostile, where=None), settings)
    assert "ist eine GDAL-VRT-Datei (<OGRVRTDataSource>)" in _failed_run(engine)
    assert _served(engine, "municipality") == before
    _secret_nowhere(engine, "municipality")


def _ave_page(members: list[bytes], prolog: str = "") -> bytes:
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}\n'
        '<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs/2.0" '
        'xmlns:gml="http://www.opengis.net/gml/3.2" '
        'xmlns:ave="http://repository.gdi-de.org/schemas/adv/produkt/alkis-vereinfacht/2.0" '
        f'numberMatched="{len(members)}" numberReturned="{len(members)}">'
    )
    return head.encode() + b"".join(members) + b"</wfs:FeatureCollection>"


@pytest.mark.parametrize("attack", ["bomb", "xxe"])
def test_wfs_response_with_a_dtd_is_refused(
    engine: Engine,
    settings: Settings,
    sample_dir: Path,
    http_server: LocalServer,
    secret: Path,
    attack: str,
) -> None:
    text_ = (sample_dir / generate.AVE_GML_FILE).read_text(encoding="utf-8")
    members = [m.encode() for m in re.findall(r"<wfs:member>.*?</wfs:member>", text_, re.S)[:3]]
    http_server.route("/wfs", Reply(body=_ave_page(members)))
    shape = load_source(SAMPLE_DEFS / "alkis-vereinfacht.yaml")
    source = shape.model_copy(
        update={
            "id": "wfs-flurstuecke",
            "protocol": WfsProtocol(
                type="wfs", url=http_server.url("/wfs"), type_names=["ave:Flurstueck"]
            ),
            "format": Format(type="gml"),
            "crs": "EPSG:25832",
            "layers": [shape.layers[0].model_copy(update={"layer": "Flurstueck"})],
        }
    )
    assert harvest(engine, source, settings).loaded == 3
    before = _served(engine, "parcel")

    doctype, reference = _dtd(attack, "wfs:FeatureCollection", secret)
    poisoned = [members[0].replace(b"<ave:gemeinde>", f"<ave:gemeinde>{reference}".encode())]
    http_server.route("/wfs", Reply(body=_ave_page(poisoned + members[1:], prolog=doctype)))
    with pytest.raises(UnsafeXmlError):
        harvest(engine, source, settings)
    message = _failed_run(engine)
    assert message.startswith(f"WFS-Antwort von {http_server.url('/wfs')}?")
    assert "enthält eine DTD (<!DOCTYPE wfs:FeatureCollection …>) mit Entitäten" in message
    assert _served(engine, "parcel") == before
    _secret_nowhere(engine, "parcel")
    # the refused page is not kept among the raw downloads
    raw = settings.raw_dir / source.id
    assert not [p for p in raw.iterdir() if b"<!DOCTYPE" in p.read_bytes()]


def _atom_feeds(server: LocalServer, prolog: str = "", link: str = "/files/gemeinden.gpkg") -> str:
    """An INSPIRE ATOM service with one dataset of one file; returns the service feed URL."""
    ns = (
        'xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:inspire_dls="http://inspire.ec.europa.eu/schemas/inspire_dls/1.0"'
    )
    service = (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}\n<feed {ns}><title>Downloaddienst</title>'
        "<entry><title>Gemeindegrenzen</title>"
        "<inspire_dls:spatial_dataset_identifier_code>VG250</inspire_dls:spatial_dataset_identifier_code>"
        '<link rel="alternate" type="application/atom+xml" href="datasets/vg250.xml"/>'
        "</entry></feed>"
    )
    dataset = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<feed {ns}><title>VG250</title>'
        f'<entry><title>GeoPackage</title><link rel="alternate" href="{link}"/></entry></feed>'
    )
    server.route("/atom/service.xml", Reply(body=service.encode()))
    server.route("/atom/datasets/vg250.xml", Reply(body=dataset.encode()))
    return server.url("/atom/service.xml")


@pytest.mark.parametrize("attack", ["bomb", "xxe"])
def test_atom_feed_with_a_dtd_is_refused(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    sample_dir: Path,
    http_server: LocalServer,
    secret: Path,
    attack: str,
) -> None:
    http_server.route(
        "/files/gemeinden.gpkg", Reply(body=(sample_dir / BOUNDARIES_FILE).read_bytes())
    )
    url = _atom_feeds(http_server)
    source = sample_source.model_copy(
        update={"protocol": AtomProtocol(type="atom", url=url, dataset_id="VG250")}
    )
    assert harvest(engine, source, settings).loaded == 8
    before = _served(engine, "municipality")

    doctype, _ = _dtd(attack, "feed", secret)
    _atom_feeds(http_server, prolog=doctype)
    with pytest.raises(UnsafeXmlError):
        harvest(engine, source, settings)
    assert _failed_run(engine).startswith(f"ATOM-Feed {url} enthält eine DTD (<!DOCTYPE feed …>)")
    assert _served(engine, "municipality") == before
    _secret_nowhere(engine, "municipality")


def test_xlsx_part_with_a_dtd_is_refused(tmp_path: Path, sample_dir: Path, secret: Path) -> None:
    doctype, reference = _dtd("xxe", "worksheet", secret)
    hostile = tmp_path / "feindlich.xlsx"
    with (
        zipfile.ZipFile(sample_dir / generate.VACANCY_XLSX_FILE) as source,
        zipfile.ZipFile(hostile, "w") as target,
    ):
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                xml = data.decode("utf-8").replace("<v>", f"<v>{reference}", 1)
                data = _with_dtd(xml, "worksheet", doctype).encode()
            target.writestr(info, data)
    with pytest.raises(UnsafeXmlError) as refused:
        list(read_xlsx(hostile, sheet=None, x=None, y=None, crs=None, batch_size=100))
    message = str(refused.value)
    assert message.startswith(
        "XLSX-Datei feindlich.xlsx (xl/worksheets/sheet1.xml) enthält eine DTD"
    )
    assert SECRET not in message


@pytest.mark.parametrize(
    "document",
    [
        '<?xml version="1.0"?>\n<!-- Kommentar --><?pi x?>\n<!DOCTYPE a [<!ENTITY e "x">]><a/>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a><a/>',
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_doctype_is_found_in_every_encoding(document: str, encoding: str) -> None:
    if encoding == "utf-16-be":  # no BOM: told from the first bytes
        document = document.split("?>", 1)[1].lstrip()
    prolog = read_prolog(document.encode(encoding))
    assert prolog is not None and prolog.doctype == "a"


def test_doctype_behind_an_encoding_declaration_is_found() -> None:
    # UTF-7 writes "<" as "+ADw-": a byte scan alone would miss this DOCTYPE
    utf7 = b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE a+AD4-+ADw-a/+AD4-'
    assert read_prolog(utf7) == read_prolog(b"<!DOCTYPE a><a/>")
    ebcdic = '<?xml version="1.0" encoding="cp500"?><!DOCTYPE a><a/>'.encode("cp500")
    assert (prolog := read_prolog(ebcdic)) is not None and prolog.doctype == "a"


def test_prolog_reading_is_bounded() -> None:
    long_comment = b"<!--" + b"x" * MAX_PROLOG_BYTES + b"--><!DOCTYPE a><a/>"
    prolog = read_prolog(long_comment)
    assert prolog is not None and prolog.exhausted
    spaces = b" " * (MAX_PROLOG_BYTES // 2) + b"<!DOCTYPE a><a/>"
    assert (found := read_prolog(spaces)) is not None and found.doctype == "a"
    assert read_prolog(b'{"type": "FeatureCollection"}') is None
    assert (plain := read_prolog(b'<?xml version="1.0"?><a:b xmlns:a="x"/>')) is not None
    assert plain.root == "a:b" and plain.doctype is None


def test_html_error_page_is_no_exception_report() -> None:
    assert exception_report(b"<!DOCTYPE html><html><body>Wartung</body></html>") is None


# -- 2. harvest URLs into internal networks ------------------------------------------------


@pytest.fixture
def gpkg(sample_dir: Path) -> bytes:
    return (sample_dir / BOUNDARIES_FILE).read_bytes()


def _remote(source: SourceDefinition, url: str) -> SourceDefinition:
    return source.model_copy(update={"protocol": HttpProtocol(type="http", url=url)})


@pytest.fixture
def public_base(http_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Base URL of the local server under a host name the harvest takes for a public host:
    the check sees a global address, the connection goes to 127.0.0.1."""
    resolve, getaddrinfo = hosts.resolve, socket.getaddrinfo

    def public_resolve(host: str, port: int) -> list[hosts.IPAddress]:
        return [ipaddress.ip_address(PUBLIC_IP)] if host == PUBLIC_NAME else resolve(host, port)

    def local_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return getaddrinfo("127.0.0.1" if host == PUBLIC_NAME else host, *args, **kwargs)

    monkeypatch.setattr(hosts, "resolve", public_resolve)
    monkeypatch.setattr(socket, "getaddrinfo", local_getaddrinfo)
    return http_server.base_url.replace("127.0.0.1", PUBLIC_NAME)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:{port}/gemeinden.gpkg", "zeigt auf eine Loopback-Adresse (127.0.0.1)"),
        ("http://localhost:{port}/gemeinden.gpkg", "zeigt auf eine Loopback-Adresse (localhost → "),
        ("http://[::1]:{port}/gemeinden.gpkg", "zeigt auf eine Loopback-Adresse (::1)"),
        ("http://[::ffff:127.0.0.1]:{port}/gemeinden.gpkg", "zeigt auf eine Loopback-Adresse"),
        ("http://2130706433:{port}/gemeinden.gpkg", "Loopback-Adresse (2130706433 → 127.0.0.1)"),
        ("http://0.0.0.0:{port}/gemeinden.gpkg", "zeigt auf eine unspezifizierte Adresse"),
        (
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "zeigt auf den Cloud-Metadatendienst (169.254.169.254)",
        ),
        ("http://10.20.30.40/gemeinden.gpkg", "zeigt auf eine private Adresse (10.20.30.40)"),
        ("http://[fd00::1]/gemeinden.gpkg", "zeigt auf eine private Adresse (fd00::1)"),
    ],
)
def test_internal_addresses_are_refused_without_a_request(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    http_server: LocalServer,
    gpkg: bytes,
    url: str,
    expected: str,
) -> None:
    harvest(engine, sample_source, settings)
    before = _served(engine, "municipality")
    http_server.route("/gemeinden.gpkg", Reply(body=gpkg))  # it would answer
    port = http_server.base_url.rsplit(":", 1)[1]
    started = time.monotonic()
    with pytest.raises(HostNotAllowedError):
        harvest(engine, _remote(sample_source, url.format(port=port)), _strict(settings))
    assert time.monotonic() - started < 2  # refused, not timed out
    message = _failed_run(engine)
    assert message.startswith(f"Ernte-Adresse {url.format(port=port)} ")
    assert expected in message
    assert message.endswith(
        "Ernten aus internen Netzen sind nur mit "
        "PLANUNGSDATEN_HARVEST_ALLOW_PRIVATE_NETWORKS=true erlaubt"
    )
    assert http_server.requests == []
    assert _served(engine, "municipality") == before


def test_a_public_host_is_harvested(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    http_server: LocalServer,
    gpkg: bytes,
    public_base: str,
) -> None:
    http_server.route("/gemeinden.gpkg", Reply(body=gpkg))
    source = _remote(sample_source, f"{public_base}/gemeinden.gpkg")
    assert harvest(engine, source, _strict(settings)).loaded == 8


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("http://127.0.0.1:{port}/intern/gemeinden.gpkg", "eine Loopback-Adresse (127.0.0.1)"),
        ("http://169.254.169.254/latest/meta-data/", "den Cloud-Metadatendienst (169.254.169.254)"),
        ("file:///etc/passwd", "nur http:// und https:// sind erlaubt, nicht file:"),
    ],
)
def test_redirects_into_the_internal_network_are_refused(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    http_server: LocalServer,
    gpkg: bytes,
    public_base: str,
    target: str,
    expected: str,
) -> None:
    harvest(engine, sample_source, settings)
    before = _served(engine, "municipality")
    port = http_server.base_url.rsplit(":", 1)[1]
    location = target.format(port=port)
    http_server.route("/gemeinden.gpkg", Reply(status=302, headers={"Location": location}))
    http_server.route("/intern/gemeinden.gpkg", Reply(body=gpkg))
    url = f"{public_base}/gemeinden.gpkg"
    with pytest.raises(HarvestError):
        harvest(engine, _remote(sample_source, url), _strict(settings))
    message = _failed_run(engine)
    # httpx completes "file:///etc/passwd" with the host of the redirecting server
    shown = location.replace("file:///", f"file://{PUBLIC_NAME}/")
    assert message.startswith(f"Ernte-Adresse {shown} (Weiterleitung von {url})")
    assert expected in message
    assert [r.path for r in http_server.requests] == ["/gemeinden.gpkg"]
    assert _served(engine, "municipality") == before


def test_redirects_on_public_hosts_are_followed(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    http_server: LocalServer,
    gpkg: bytes,
    public_base: str,
) -> None:
    http_server.route("/gemeinden.gpkg", Reply(status=302, headers={"Location": "/neu.gpkg"}))
    moved = f"{public_base}/v2/gemeinden.gpkg"
    http_server.route("/neu.gpkg", Reply(status=301, headers={"Location": moved}))
    http_server.route("/v2/gemeinden.gpkg", Reply(body=gpkg))
    source = _remote(sample_source, f"{public_base}/gemeinden.gpkg")
    assert harvest(engine, source, _strict(settings)).loaded == 8
    assert [r.path for r in http_server.requests] == [
        "/gemeinden.gpkg",
        "/neu.gpkg",
        "/v2/gemeinden.gpkg",
    ]


def test_allowed_hosts_refuse_other_hosts(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    http_server: LocalServer,
    gpkg: bytes,
) -> None:
    harvest(engine, sample_source, settings)
    before = _served(engine, "municipality")
    http_server.route("/gemeinden.gpkg", Reply(body=gpkg))
    only = _with_harvest(
        settings, allowed_hosts=["*.sachsen-anhalt.de"], allow_private_networks=True
    )
    with pytest.raises(HostNotAllowedError):
        harvest(engine, _remote(sample_source, http_server.url("/gemeinden.gpkg")), only)
    assert _failed_run(engine).endswith(
        ": der Host 127.0.0.1 ist nicht freigegeben (erlaubt sind nur *.sachsen-anhalt.de; "
        "Einstellung PLANUNGSDATEN_HARVEST_ALLOWED_HOSTS)"
    )
    assert http_server.requests == []
    assert _served(engine, "municipality") == before


def test_allowed_hosts_apply_to_every_redirect_hop(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    http_server: LocalServer,
    gpkg: bytes,
) -> None:
    only_local = _with_harvest(settings, allowed_hosts=["127.0.0.1"], allow_private_networks=True)
    http_server.route("/direkt.gpkg", Reply(body=gpkg))
    direct = _remote(sample_source, http_server.url("/direkt.gpkg"))
    assert harvest(engine, direct, only_local).loaded == 8  # the allowed host itself
    before = _served(engine, "municipality")
    elsewhere = http_server.url("/intern/gemeinden.gpkg").replace("127.0.0.1", "localhost")
    http_server.route("/gemeinden.gpkg", Reply(status=301, headers={"Location": elsewhere}))
    http_server.route("/intern/gemeinden.gpkg", Reply(body=gpkg))
    with pytest.raises(HostNotAllowedError):
        harvest(engine, _remote(sample_source, http_server.url("/gemeinden.gpkg")), only_local)
    assert "der Host localhost ist nicht freigegeben" in _failed_run(engine)
    assert "/intern/gemeinden.gpkg" not in [r.path for r in http_server.requests]
    assert _served(engine, "municipality") == before


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("http://127.0.0.1:{port}/files/gemeinden.gpkg", "eine Loopback-Adresse (127.0.0.1)"),
        ("file:///etc/passwd", "nur http:// und https:// sind erlaubt, nicht file:"),
        ("ftp://daten.example.org/gemeinden.gpkg", "nur http:// und https:// sind erlaubt"),
    ],
)
def test_atom_links_into_the_internal_network_are_refused(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    http_server: LocalServer,
    gpkg: bytes,
    public_base: str,
    link: str,
    expected: str,
) -> None:
    harvest(engine, sample_source, settings)
    before = _served(engine, "municipality")
    port = http_server.base_url.rsplit(":", 1)[1]
    http_server.route("/files/gemeinden.gpkg", Reply(body=gpkg))
    _atom_feeds(http_server, link=link.format(port=port))
    service = f"{public_base}/atom/service.xml"
    source = sample_source.model_copy(
        update={"protocol": AtomProtocol(type="atom", url=service, dataset_id="VG250")}
    )
    with pytest.raises(HostNotAllowedError):
        harvest(engine, source, _strict(settings))
    message = _failed_run(engine)
    assert f"(Download-Link im ATOM-Feed {public_base}/atom/datasets/vg250.xml)" in message
    assert expected in message
    assert "/files/gemeinden.gpkg" not in [r.path for r in http_server.requests]
    assert _served(engine, "municipality") == before


def test_ogcapi_next_link_into_the_internal_network_is_refused(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    http_server: LocalServer,
    public_base: str,
) -> None:
    harvest(engine, sample_source, settings)
    before = _served(engine, "municipality")
    page = json.loads(boundaries().to_crs(4326).to_json())
    metadata = "http://169.254.169.254/latest/meta-data/"
    page["links"] = [{"rel": "next", "type": "application/geo+json", "href": metadata}]
    items = "/ogc/collections/municipalities/items"
    http_server.route(items, Reply(body=json.dumps(page).encode()))
    source = sample_source.model_copy(
        update={
            "protocol": OgcApiProtocol(
                type="ogcapi", url=f"{public_base}/ogc", collection="municipalities"
            ),
            "format": Format(type="geojson"),
            "layers": [Layer(target="municipality", mapping={"ags": "AGS", "name": "GEN"})],
        }
    )
    with pytest.raises(HostNotAllowedError):
        harvest(engine, source, _strict(settings))
    message = _failed_run(engine)
    assert message.startswith(f"Ernte-Adresse {metadata} (next-Link der Seite {public_base}{items}")
    assert "zeigt auf den Cloud-Metadatendienst (169.254.169.254)" in message
    assert [r.path for r in http_server.requests] == [items]
    assert _served(engine, "municipality") == before


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://daten.example.org/gemeinden.zip"])
def test_source_definitions_take_only_http_urls(url: str) -> None:
    with pytest.raises(ValidationError, match="must start with http:// or https://"):
        HttpProtocol(type="http", url=url)
    with pytest.raises(HostNotAllowedError, match="nur http:// und https:// sind erlaubt"):
        check_url(url, HarvestSettings(allow_private_networks=True))


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert HarvestSettings().allowed_hosts == []
    assert HarvestSettings().allow_private_networks is False
    monkeypatch.setenv(
        "PLANUNGSDATEN_HARVEST_ALLOWED_HOSTS", '["Geodaten.Sachsen-Anhalt.de.", "*.lvermgeo.de"]'
    )
    monkeypatch.setenv("PLANUNGSDATEN_HARVEST_ALLOW_PRIVATE_NETWORKS", "true")
    from_env = HarvestSettings()
    assert from_env.allowed_hosts == ["geodaten.sachsen-anhalt.de", "*.lvermgeo.de"]
    assert from_env.allow_private_networks is True
    with pytest.raises(ValidationError, match="not a host name"):
        HarvestSettings(allowed_hosts=["https://geodaten.sachsen-anhalt.de/"])


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.53", "eine Loopback-Adresse"),
        ("::1", "eine Loopback-Adresse"),
        ("::ffff:127.0.0.1", "eine Loopback-Adresse"),
        ("64:ff9b::7f00:1", "eine Loopback-Adresse"),  # NAT64
        ("2002:7f00:1::1", "eine Loopback-Adresse"),  # 6to4
        ("169.254.169.254", "den Cloud-Metadatendienst"),
        ("fd00:ec2::254", "den Cloud-Metadatendienst"),
        ("169.254.10.1", "eine link-lokale Adresse"),
        ("fe80::1", "eine link-lokale Adresse"),
        ("10.0.0.1", "eine private Adresse"),
        ("172.16.5.4", "eine private Adresse"),
        ("192.168.178.1", "eine private Adresse"),
        ("::ffff:192.168.0.1", "eine private Adresse"),
        ("fc00::1", "eine private Adresse"),
        ("0.0.0.0", "eine unspezifizierte Adresse"),
        ("::", "eine unspezifizierte Adresse"),
        ("224.0.0.251", "eine Multicast-Adresse"),
        ("ff02::1", "eine Multicast-Adresse"),
        ("240.0.0.1", "eine reservierte Adresse"),
        ("100.64.0.1", "eine nicht öffentliche Adresse"),  # carrier-grade NAT
        ("93.184.215.14", None),
        ("2a00:1450:4001:82b::2003", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert non_public(ipaddress.ip_address(address)) == kind


def test_host_patterns() -> None:
    allowed = ["geodaten.sachsen-anhalt.de", "*.lvermgeo.de"]
    assert host_allowed("GeoDaten.Sachsen-Anhalt.de.", allowed)
    assert host_allowed("www.geodatenportal.lvermgeo.de", allowed)
    assert not host_allowed("lvermgeo.de", allowed)  # *.suffix: subdomains only
    assert not host_allowed("evil-lvermgeo.de", allowed)
    assert not host_allowed("geodaten.sachsen-anhalt.de.evil.example", allowed)
