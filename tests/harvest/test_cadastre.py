"""The cadastre through the whole pipeline: real NAS files, the sample cadastre as NAS,
ALKIS-vereinfacht (Shape and WFS GML) and house coordinates; WFS and OGC API paging."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from pydantic import SecretStr
from sqlalchemy import Engine, text

from planungsdaten.db.engine import make_engine
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import (
    FileProtocol,
    Format,
    Layer,
    OgcApiProtocol,
    SourceDefinition,
    WfsProtocol,
    load_source,
)
from planungsdaten.settings import PROJECT_DIR, DatabaseSettings, Settings
from sample_data import generate
from tests.conftest import LiveServer, fresh_database, with_file
from tests.harvest.conftest import LocalServer, Reply, Seen

SAMPLE_DEFS = PROJECT_DIR / "harvesters" / "sample"


def _sample(name: str, sample_dir: Path, file_name: str) -> SourceDefinition:
    return with_file(load_source(SAMPLE_DEFS / name), sample_dir / file_name)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _nas_counts(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, element in etree.iterparse(str(path), events=("end",), tag="{*}member"):
        child = element[0]
        name = etree.QName(child).localname
        counts[name] = counts.get(name, 0) + 1
        element.clear()
    return counts


def _real_nas(shared: Path, name: str, layer: Layer) -> SourceDefinition:
    return SourceDefinition(
        id="nas-real",
        title="NAS real",
        publisher="Stadt Bonn",
        licence="http://dcat-ap.de/def/licenses/dl-zero-de/2.0",
        attribution="Stadt Bonn",
        access="open",
        protocol=FileProtocol(type="file", path=shared / "real" / "nas" / name),
        format=Format(type="nas"),
        layers=[layer],
    )


def test_real_nas_parcel(engine: Engine, settings: Settings, shared_fixtures: Path) -> None:
    layer = Layer(
        layer="AX_Flurstueck",
        target="parcel",
        mapping={
            "flurstueckskennzeichen": "flurstueckskennzeichen",
            "ags": "ags",
            "amtliche_flaeche": "amtliche_flaeche",
            "source_object_id": "gml_id",
        },
    )
    result = harvest(engine, _real_nas(shared_fixtures, "AX_Flurstueck.xml", layer), settings)
    assert (result.read, result.loaded, result.rejected) == (1, 1, 0)
    with engine.connect() as conn:
        parcel = conn.execute(
            text(
                "SELECT *, ST_SRID(geom) AS srid, ST_Area(geom) AS area, "
                "ST_X(ST_Centroid(geom)) AS x FROM parcel"
            )
        ).one()
    assert parcel.flurstueckskennzeichen == "05432002500008______"
    assert (parcel.land, parcel.gemarkung, parcel.flur, parcel.zaehler, parcel.nenner) == (
        "05",
        "4320",
        "25",
        "8",
        None,
    )
    assert parcel.amtliche_flaeche == 110397 and parcel.ags == "05314000"
    assert parcel.srid == 25832 and abs(parcel.area - 110397) / 110397 < 0.01
    assert 350_000 < parcel.x < 380_000  # Bonn, UTM zone 32


def test_real_nas_building(engine: Engine, settings: Settings, shared_fixtures: Path) -> None:
    layer = Layer(
        layer="AX_Gebaeude",
        target="building",
        mapping={"source_object_id": "gml_id", "function_code": "gebaeudefunktion"},
    )
    harvest(engine, _real_nas(shared_fixtures, "AX_Gebaeude.xml", layer), settings)
    with engine.connect() as conn:
        building = conn.execute(text("SELECT * FROM building")).one()
    assert building.function_code == 2500
    assert building.function_name == "Gebäude zur Versorgung"
    assert building.source_object_id == "DENW36AL10000Egu"


def test_sample_nas_loads_every_object(
    engine: Engine, settings: Settings, sample_dir: Path
) -> None:
    source = _sample("alkis-nas.yaml", sample_dir, generate.NAS_FILE)
    result = harvest(engine, source, settings)
    expected = _nas_counts(sample_dir / generate.NAS_FILE)
    land_use = sum(
        v
        for k, v in expected.items()
        if k.startswith("AX_")
        and k
        not in (
            "AX_Flurstueck",
            "AX_Gebaeude",
            "AX_LagebezeichnungMitHausnummer",
            "AX_LagebezeichnungKatalogeintrag",
            "AX_Gemarkung",
        )
    )
    by_layer = {r.target: r for r in result.layers}
    assert by_layer["parcel"].loaded == expected["AX_Flurstueck"] == _count(engine, "parcel")
    assert by_layer["building"].loaded == expected["AX_Gebaeude"] == _count(engine, "building")
    assert by_layer["land_use"].loaded == land_use == _count(engine, "land_use")
    assert by_layer["address"].loaded == expected["AX_LagebezeichnungMitHausnummer"]
    assert result.rejected == 0 and result.read == result.loaded
    with engine.connect() as conn:
        outside = conn.execute(
            text(
                "SELECT count(*) FROM parcel WHERE NOT ST_Within(geom, ST_Buffer("
                "ST_MakeEnvelope(691900, 5686400, 697400, 5690000, 25832), 1))"
            )
        ).scalar_one()
        wohnhaus = conn.execute(
            text("SELECT count(*) FROM building WHERE function_name = 'Wohnhaus'")
        ).scalar_one()
        streets = conn.execute(
            text("SELECT count(DISTINCT street) FROM address WHERE street IS NOT NULL")
        ).scalar_one()
        names = (
            conn.execute(text("SELECT DISTINCT gemarkung_name FROM parcel ORDER BY 1"))
            .scalars()
            .all()
        )
        areas = conn.execute(
            text("SELECT max(abs(amtliche_flaeche - ST_Area(geom))) FROM parcel")
        ).scalar_one()
        groups: dict[str, int] = dict(
            conn.execute(text("SELECT nutzung_group, count(*) FROM land_use GROUP BY 1")).all()
        )
    assert outside == 0 and wohnhaus > 1000 and streets >= 20
    assert names == ["Branderoda", "Mücheln", "Stöbnitz"]
    assert areas < 1.0
    assert set(groups) == {"Siedlung", "Verkehr", "Vegetation", "Gewässer"}


def test_vereinfacht_shape_gml_and_nas_agree(
    engine: Engine, settings: Settings, sample_dir: Path
) -> None:
    shape = _sample("alkis-vereinfacht.yaml", sample_dir, generate.AVE_ZIP_FILE)
    result = harvest(engine, shape, settings)
    assert result.rejected == 0
    with engine.connect() as conn:
        from_shape = set(conn.execute(text("SELECT flurstueckskennzeichen FROM parcel")).scalars())
        houses = conn.execute(
            text("SELECT count(*) FROM building WHERE function_name = 'Wohnhaus'")
        ).scalar_one()
    assert len(from_shape) == 3649 == result.layers[0].loaded
    assert houses > 1000
    # the WFS-style GML of the same parcels, read with GDAL's GML driver
    gml = shape.model_copy(
        update={
            "id": "sample-ave-gml",
            "protocol": FileProtocol(type="file", path=sample_dir / generate.AVE_GML_FILE),
            "format": Format(type="gml"),
            "layers": [shape.layers[0].model_copy(update={"layer": "Flurstueck"})],
        }
    )
    with engine.begin() as conn:  # let the GML source replace the Shape parcels
        conn.execute(
            text(
                "UPDATE dataset_version SET status = 'superseded' "
                "WHERE source_id = 'sample-alkis-vereinfacht'"
            )
        )
    gml_result = harvest(engine, gml, settings)
    assert gml_result.loaded == len(from_shape)
    nas_names = {
        e.text
        for _, e in etree.iterparse(
            str(sample_dir / generate.NAS_FILE), tag="{*}flurstueckskennzeichen"
        )
    }
    assert from_shape == nas_names


def test_house_coordinates_csv(engine: Engine, settings: Settings, sample_dir: Path) -> None:
    source = _sample("hauskoordinaten.yaml", sample_dir, generate.ADDRESS_CSV_FILE)
    result = harvest(engine, source, settings)
    assert result.rejected == 0 and result.loaded == 2859
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(*) AS n, min(ST_X(geom)) AS x0, max(ST_X(geom)) AS x1, "
                "count(*) FILTER (WHERE house_number_suffix IS NOT NULL) AS suffixed, "
                "count(DISTINCT postcode) AS plz FROM address"
            )
        ).one()
    # EPSG:4647 (zone-prefixed easting) was reprojected to plain UTM 32 eastings
    assert 691_000 < row.x0 < row.x1 < 698_000
    assert row.suffixed > 0 and row.plz == 1


# -- paging against local servers -------------------------------------------------------------


def _wfs_responder(gml: Path) -> tuple[list[bytes], object]:
    """A WFS 2.0 GetFeature emulation over the members of a FeatureCollection file."""
    tree = etree.parse(str(gml))
    root = tree.getroot()
    members = [etree.tostring(m) for m in root if etree.QName(m).localname == "member"]
    head = (
        '<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs/2.0" '
        'xmlns:gml="http://www.opengis.net/gml/3.2" '
        'xmlns:ave="http://repository.gdi-de.org/schemas/adv/produkt/alkis-vereinfacht/2.0" '
        'numberMatched="{matched}" numberReturned="{returned}">'
    )

    def respond(seen: Seen) -> Reply:
        start = int(seen.param("STARTINDEX") or 0)
        count = int(seen.param("COUNT") or 1000)
        page = members[start : start + count]
        body = head.format(matched=len(members), returned=len(page)).encode()
        return Reply(body=body + b"".join(page) + b"</wfs:FeatureCollection>")

    return members, respond


def test_wfs_paging_through_the_pipeline(
    engine: Engine, settings: Settings, sample_dir: Path, http_server: LocalServer
) -> None:
    members, respond = _wfs_responder(sample_dir / generate.AVE_GML_FILE)
    http_server.route("/wfs", respond)  # type: ignore[arg-type]
    shape = load_source(SAMPLE_DEFS / "alkis-vereinfacht.yaml")
    source = shape.model_copy(
        update={
            "id": "wfs-test",
            "protocol": WfsProtocol(
                type="wfs",
                url=http_server.url("/wfs"),
                type_names=["ave:Flurstueck"],
                page_size=1000,
            ),
            "format": Format(type="gml"),
            "crs": "EPSG:25832",
            "layers": [shape.layers[0].model_copy(update={"layer": "Flurstueck"})],
        }
    )
    result = harvest(engine, source, settings)
    pages = http_server.requests_for("/wfs")
    assert [p.param("STARTINDEX") for p in pages] == ["0", "1000", "2000", "3000"]
    assert result.loaded == len(members) == _count(engine, "parcel")
    again = harvest(engine, source, settings)
    assert again.status == "unchanged"


@pytest.fixture
def second_database(server_url: str, template_url: str) -> Iterator[str]:
    with fresh_database(server_url, f"planungsdaten_second_{os.getpid()}") as url:
        yield url


def test_ogc_api_paging_from_our_own_service(
    engine: Engine,
    settings: Settings,
    sample_source: SourceDefinition,
    live_port: int,
    second_database: str,
    tmp_path: Path,
) -> None:
    harvest(engine, sample_source, settings)
    env = {
        "PLANUNGSDATEN_DATABASE_URL": settings.database.url.get_secret_value(),  # type: ignore[union-attr]
        "PLANUNGSDATEN_PUBLIC_URL": f"http://127.0.0.1:{live_port}",
        "PLANUNGSDATEN_DATA_DIR": str(tmp_path / "served"),
    }
    remote = sample_source.model_copy(
        update={
            "id": "ogc-remote",
            "protocol": OgcApiProtocol(
                type="ogcapi",
                url=f"http://127.0.0.1:{live_port}/ogc",
                collection="municipalities",
                limit=3,
            ),
            "format": Format(type="geojson"),
            "layers": [
                Layer(target="municipality", mapping={"ags": "ags", "ars": "ars", "name": "name"})
            ],
        }
    )
    other = dataclasses.replace(settings, database=DatabaseSettings(url=SecretStr(second_database)))
    other_engine = make_engine(other.database)
    try:
        with LiveServer(live_port, env):
            result = harvest(other_engine, remote, other)
        assert result.loaded == 8 and result.rejected == 0
        with other_engine.connect() as conn:
            name = conn.execute(
                text("SELECT name FROM municipality WHERE ags = '15088235'")
            ).scalar_one()
            pages = conn.execute(
                text("SELECT jsonb_array_length(fetch_info->'urls') FROM harvest_run")
            ).scalar_one()
        assert name == "Mücheln (Geiseltal)" and pages == 3
    finally:
        other_engine.dispose()
