"""The flood theme: a package for a drawn area across the Geisel's HQ100 zone in Mücheln.

Residents and buildings in HQ100/HQextrem are checked against an independent computation
with shapely on the rows read back from the database (not the package's SQL); the clipped
terrain COG against the stored raster with rasterio and numpy."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from lxml import etree
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from planungsdaten.db.engine import make_engine
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import load_source
from planungsdaten.packages import jobs
from planungsdaten.packages.area import resolve_area
from planungsdaten.packages.build import BuildSpec, build_package, tables_of
from planungsdaten.packages.request import PackageRequest, parse_request
from planungsdaten.packages.worker import Worker
from planungsdaten.rasters.store import current_rasters
from planungsdaten.security.identity import Identity
from planungsdaten.settings import PROJECT_DIR, Settings
from tests.conftest import clone_sample, package_test_settings, with_sample_file

# across the town centre and the Geisel (which runs west–east near northing 5 688 200)
AREA = shapely.Polygon(
    [(693_320, 5_687_860), (694_520, 5_687_930), (694_470, 5_688_640), (693_280, 5_688_560)]
)
WHO = Identity.anonymous("f" * 32)
REQUEST = {
    "area": shapely.geometry.mapping(AREA),
    "area_crs": "EPSG:25832",
    "name": "Geiselaue Altstadt",
    "themes": ["flood"],
    "formats": ["gpkg", "csv", "html"],
}


@dataclass
class Built:
    """The package of AREA, unpacked, and the database it was built from."""

    root: Path
    engine: Engine
    settings: Settings

    def indicators(self) -> dict[str, dict[str, str]]:
        with (self.root / "indikatoren.csv").open(encoding="utf-8-sig", newline="") as f:
            return {r["schluessel"]: r for r in csv.DictReader(f, delimiter=";")}

    def value(self, key: str, column: str = "wert_gebiet") -> float:
        return float(self.indicators()[key][column].replace(",", "."))


@pytest.fixture(scope="module")
def built(
    server_url: str, sample_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    tmp = tmp_path_factory.mktemp("flood")
    with clone_sample(server_url, sample_database, "planungsdaten_pkg_flood") as url:
        settings = package_test_settings(url, tmp / "data")
        engine = make_engine(settings.database)
        job_id, _ = _build(engine, settings, parse_request(REQUEST))
        with zipfile.ZipFile(jobs.package_path(settings, job_id)) as archive:
            assert archive.testzip() is None
            archive.extractall(tmp / "unpacked")
        (root,) = (tmp / "unpacked").iterdir()
        yield Built(root, engine, settings)
        engine.dispose()


def _build(engine: Engine, settings: Settings, request: PackageRequest) -> tuple[str, bool]:
    """Submit a package and build it with a worker; its job id and whether it was cached."""
    job, cached = jobs.submit(engine, request, WHO, settings)
    if not cached:
        Worker(settings, engine, engine).run_once(job.id)
    with engine.connect() as conn:
        job = jobs.get(conn, job.id, WHO)
    assert job.status == "succeeded", job.error
    return job.cached_from or job.id, cached


def _geometries(engine: Engine, statement: str) -> list[tuple[object, BaseGeometry]]:
    with engine.connect() as conn:
        return [(key, shapely.from_wkb(bytes(wkb))) for key, wkb in conn.execute(text(statement))]


def _zones_in_area(engine: Engine) -> dict[str, BaseGeometry]:
    """Each scenario's zones, united and cut to the area, with shapely."""
    zones = _geometries(engine, "SELECT scenario, ST_AsBinary(geom) FROM flood_zone")
    return {
        scenario: shapely.union_all([g for s, g in zones if s == scenario]).intersection(AREA)
        for scenario in ("HQ100", "HQextrem")
    }


def test_residents_and_buildings_equal_an_independent_computation(built: Built) -> None:
    zones = _zones_in_area(built.engine)
    buildings = [
        g for _, g in _geometries(built.engine, "SELECT 1, ST_AsBinary(geom) FROM building")
    ]
    with built.engine.connect() as conn:
        cells = [
            (shapely.from_wkb(bytes(wkb)), float(value or 0.0))
            for wkb, value in conn.execute(
                text(
                    "SELECT ST_AsBinary(c.geom), v.value FROM grid_cell c JOIN grid_value v "
                    "ON v.cell_id = c.cell_id AND v.dataset_version_id = c.dataset_version_id "
                    "WHERE c.resolution_m = 100 AND v.indicator = 'einwohner'"
                )
            )
        ]
    expected = {}
    for scenario, key in (("HQ100", "hq100"), ("HQextrem", "hqextrem")):
        zone = zones[scenario]
        inside = sum(1 for b in buildings if b.intersects(zone))
        residents = sum(v * c.intersection(zone).area / c.area for c, v in cells)
        expected[key] = (inside, residents, zone.area)
        assert built.value(f"hochwasser_{key}_gebaeude") == inside
        assert built.value(f"hochwasser_{key}_einwohner") == pytest.approx(residents, abs=0.5)
        assert built.value(f"hochwasser_{key}_anteil") == pytest.approx(
            100 * zone.area / AREA.area, abs=0.05
        )
    # the sample's HQ100 zone crosses the built-up, populated centre: nothing trivial here
    hq100, hqextrem = expected["hq100"], expected["hqextrem"]
    assert 50 < hq100[0] < hqextrem[0] and 20 < hq100[1] < hqextrem[1]
    # the municipality's values are computed the same way for the whole of it
    rows = built.indicators()
    assert float(rows["hochwasser_hq100_gebaeude"]["wert_gemeinde"]) >= hq100[0]
    assert rows["hochwasser_hq100_einwohner"]["einheit"] == "EW"
    # cited: the flood zones and the population grid the residents come from, nothing else
    assert rows["hochwasser_hq100_einwohner"]["quelle"] == (
        "Hochwassergefahrenflächen (Beispieldaten, Shape); "
        "Zensus 2022 – Einwohner im Gitter (Beispieldaten)"
    )
    assert "Fläche(Zelle" in rows["hochwasser_hq100_einwohner"]["methode"]
    assert "schneiden oder berühren" in rows["hochwasser_hq100_gebaeude"]["methode"]


def test_geopackage_has_the_zones_and_affected_buildings_with_styles(built: Built) -> None:
    gpkg = built.root / "datenpaket.gpkg"
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert {"ueberschwemmungsgebiete", "gebaeude_hochwasser", "untersuchungsgebiet"} <= layers
    zones = pyogrio.read_dataframe(gpkg, layer="ueberschwemmungsgebiete")
    assert zones.crs.to_epsg() == 25832
    assert set(zones["szenario"]) == {"HQhaeufig", "HQ100", "HQextrem"}
    assert zones.geometry.within(AREA.buffer(0.01)).all()
    assert {"szenario_name", "art", "gewaesser", "wassertiefe"} <= set(zones.columns)
    assert set(zones["art"]) == {"Hochwassergefahrenfläche"}
    expected = _zones_in_area(built.engine)
    for scenario in ("HQ100", "HQextrem"):
        mine = zones[zones["szenario"] == scenario].geometry.union_all()
        assert mine.symmetric_difference(expected[scenario]).area < 1.0
    affected = pyogrio.read_dataframe(gpkg, layer="gebaeude_hochwasser")
    assert affected["in_hq100"].astype(bool).sum() == built.value("hochwasser_hq100_gebaeude")
    assert len(affected) == built.value("hochwasser_hqextrem_gebaeude")
    with sqlite3.connect(gpkg) as db:
        styles = dict(
            db.execute("SELECT f_table_name, styleQML FROM layer_styles WHERE useAsDefault")
        )
    root = etree.fromstring(styles["ueberschwemmungsgebiete"].encode())
    renderer = root.find("renderer-v2")
    assert renderer is not None and renderer.get("attr") == "szenario"
    assert [c.get("value") for c in renderer.iter("category")][:3] == [
        "HQhaeufig",
        "HQ100",
        "HQextrem",
    ]


def test_report_has_the_flood_map_and_indicators(built: Built) -> None:
    html = (built.root / "bericht.html").read_text("utf-8")
    assert 'id="karte_hochwasser"' in html and "Hochwassergefahren" in html
    assert (built.root / "karten" / "karte_hochwasser.png").stat().st_size > 10_000
    assert "Einwohner in HQ100-Überflutungsflächen" in html
    assert "Gebäude in HQextrem-Überflutungsflächen" in html
    assert "Hochwasser und Gelände" in html
    assert "Beispieldaten planungsdaten (synthetisch), CC BY 4.0" in html


def _stored(built: Built, layer: str) -> Path:
    with built.engine.connect() as conn:
        rasters = current_rasters(conn, built.settings.rasters_dir)
    (raster,) = [r for r in rasters if r.layer == layer]
    return raster.path


@pytest.mark.parametrize("layer", ["gelaende", "wassertiefe_hq100"])
def test_clipped_rasters_are_cogs_on_the_source_grid(built: Built, layer: str) -> None:
    clipped = built.root / "raster" / f"{layer}.tif"
    with rasterio.open(_stored(built, layer)) as source, rasterio.open(clipped) as cog:
        assert cog.crs.to_epsg() == 25832 and cog.nodata == -9999
        assert cog.res == source.res == (10.0, 10.0)
        assert cog.profile["tiled"]
        # shifted by whole source pixels, and no further out than half a pixel past the area
        col = (cog.transform.c - source.transform.c) / source.res[0]
        row = (source.transform.f - cog.transform.f) / source.res[1]
        assert col == round(col) and row == round(row)
        minx, miny, maxx, maxy = AREA.bounds
        left, bottom, right, top = cog.bounds
        assert minx - 5 <= left and bottom >= miny - 5 and right <= maxx + 5 and top <= maxy + 5
        # pixels whose centre lies in the area hold the stored values, all others no data
        data = cog.read(1)
        rows, cols = np.indices(data.shape)
        xs, ys = rasterio.transform.xy(cog.transform, rows.ravel(), cols.ravel())
        inside = shapely.contains_xy(AREA, np.asarray(xs), np.asarray(ys)).reshape(data.shape)
        # (a centre exactly on the outline may go either way)
        outside = ~shapely.intersects_xy(AREA, np.asarray(xs), np.asarray(ys)).reshape(data.shape)
        assert (data[outside] == -9999).all()
        stored = np.array([v[0] for v in source.sample(zip(xs, ys, strict=True))])
        assert np.array_equal(data[inside], stored.reshape(data.shape)[inside])
        assert (data[inside] != -9999).sum() > (5000 if layer == "gelaende" else 1000)


def test_terrain_indicators_equal_numpy_over_the_clipped_cells(built: Built) -> None:
    with rasterio.open(built.root / "raster" / "gelaende.tif") as cog:
        heights = cog.read(1, masked=True).compressed().astype(np.float64)
    assert heights.size > 5000
    assert built.value("gelaende_hoehe_mittel") == pytest.approx(heights.mean(), abs=1e-5)
    assert built.value("gelaende_hoehe_max") == pytest.approx(heights.max(), abs=1e-5)
    assert 0.0 <= built.value("gelaende_steil_anteil") < 50.0  # a valley floor with its banks
    rows = built.indicators()
    assert rows["gelaende_hoehe_mittel"]["einheit"] == "m ü. NHN"
    assert "Mittelpunkt im Gebiet" in rows["gelaende_hoehe_mittel"]["methode"]
    # the whole municipality reaches higher than the valley floor
    assert built.value("gelaende_hoehe_max", "wert_gemeinde") > heights.max()


def test_rasters_are_listed_with_licence_and_checksum(built: Built) -> None:
    manifest = json.loads((built.root / "manifest.json").read_text("utf-8"))
    files = {f["path"]: f for f in manifest["files"]}
    for name in ("raster/gelaende.tif", "raster/wassertiefe_hq100.tif"):
        data = (built.root / name).read_bytes()
        assert files[name]["sha256"] == hashlib.sha256(data).hexdigest()
    with built.engine.connect() as conn:
        versions = {r.version_id for r in current_rasters(conn, built.settings.rasters_dir)}
    datasets = {d["dataset_version"]: d for d in manifest["datasets"]}
    assert versions <= set(datasets)
    assert {datasets[v]["table"] for v in versions} == {"raster"}
    metadata = json.loads((built.root / "metadaten.json").read_text("utf-8"))
    formats = {d["dct:identifier"]: d["dct:format"]["@id"] for d in metadata["dcat:distribution"]}
    assert formats["raster/gelaende.tif"].endswith("/file-type/TIFF")
    licences = (built.root / "LIZENZEN.txt").read_text("utf-8")
    assert "Digitales Geländemodell 10 m (Beispieldaten)" in licences
    assert "raster/gelaende.tif" in licences
    html = (built.root / "bericht.html").read_text("utf-8")
    assert "<code>raster/gelaende.tif</code>" in html


def test_same_request_same_bytes_with_rasters(built: Built, tmp_path: Path) -> None:
    request = parse_request(REQUEST)
    with built.engine.connect() as conn:
        area = resolve_area(conn, request, built.settings.package)
    spec = BuildSpec("x", request, area, rasters_dir=built.settings.rasters_dir)
    with built.engine.connect() as conn:
        first = build_package(conn, spec, tmp_path / "a.zip")
    with built.engine.connect() as conn:
        second = build_package(conn, spec, tmp_path / "b.zip")
    assert first.sha256 == second.sha256
    with zipfile.ZipFile(first.path) as archive:
        assert any(n.endswith("raster/gelaende.tif") for n in archive.namelist())


def test_a_new_raster_version_changes_the_cache_key(
    package_settings: Settings, package_engine: Engine, sample_dir: Path
) -> None:
    assert "raster" in tables_of(["flood"])
    request = parse_request(REQUEST)
    first, _ = _build(package_engine, package_settings, request)
    again, cached = _build(package_engine, package_settings, request)
    assert cached and again == first
    source = load_source(PROJECT_DIR / "harvesters" / "sample" / "dgm.yaml")
    result = harvest(
        package_engine, with_sample_file(source, sample_dir), package_settings, force=True
    )
    assert result.status == "succeeded"
    third, cached = _build(package_engine, package_settings, request)
    assert not cached and third != first
    with zipfile.ZipFile(jobs.package_path(package_settings, third)) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("manifest.json")]
        manifest = json.loads(archive.read(name))
    assert result.version_id in {d["dataset_version"] for d in manifest["datasets"]}


def test_area_outside_the_rasters_builds_without_them(
    package_settings: Settings, package_engine: Engine, tmp_path: Path
) -> None:
    # in Braunsbedra, east of the sample terrain model and away from the Geisel's zones
    east = shapely.box(700_000, 5_688_000, 700_600, 5_688_500)
    request = parse_request({**REQUEST, "area": shapely.geometry.mapping(east), "name": "Ost"})
    job_id, _ = _build(package_engine, package_settings, request)
    with zipfile.ZipFile(jobs.package_path(package_settings, job_id)) as archive:
        names = archive.namelist()
        (csv_name,) = [n for n in names if n.endswith("indikatoren.csv")]
        rows = {
            r["schluessel"]: r
            for r in csv.DictReader(
                archive.read(csv_name).decode("utf-8-sig").splitlines(), delimiter=";"
            )
        }
        (gpkg_name,) = [n for n in names if n.endswith(".gpkg")]
        (tmp_path / "p.gpkg").write_bytes(archive.read(gpkg_name))
    assert not [n for n in names if "/raster/" in n]
    assert rows["gelaende_hoehe_mittel"]["wert_gebiet"] == ""  # no terrain cell in the area
    assert rows["hochwasser_hq100_gebaeude"]["wert_gebiet"] == "0"
    assert pyogrio.read_info(tmp_path / "p.gpkg", layer="ueberschwemmungsgebiete")["features"] == 0
