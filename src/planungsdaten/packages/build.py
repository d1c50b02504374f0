"""Build one package: read everything in one snapshot, write the files, pack the ZIP.

The content depends only on the request and the dataset versions: every timestamp written
is the data date (the newest version used), layers are ordered by their keys, and the ZIP
has fixed member dates, so the same request on the same data gives the same bytes."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyogrio
import pyproj
import shapely
from sqlalchemy import Connection, text

from planungsdaten import __version__
from planungsdaten.checksums import sha256_file
from planungsdaten.db.queries import query
from planungsdaten.packages import flood, maps, report, styles, tables
from planungsdaten.packages.area import ResolvedArea
from planungsdaten.packages.indicators import Region, compute_indicators
from planungsdaten.packages.layers import select_layers
from planungsdaten.packages.metadata import dcat_description, manifest
from planungsdaten.packages.model import PackageLayer, ReportInput, SourceUse
from planungsdaten.packages.request import OUTPUT_CRS, PackageRequest
from planungsdaten.packages.themes import LAYERS, THEMES
from planungsdaten.rasters.store import current_rasters

SQL = "planungsdaten.packages"
GPKG_NAME = "datenpaket.gpkg"
Progress = Callable[[int, str], None]
_UMLAUTS = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"}
)


@dataclass(frozen=True)
class BuildSpec:
    """What to build: the checked request, its area and the restricted data it may hold."""

    identifier: str
    request: PackageRequest
    area: ResolvedArea
    restricted_ags: list[str] = field(default_factory=list)
    traffic_radius_m: float = 1000.0
    vacancy_min_count: int = 3
    public_url: str = "http://127.0.0.1:8000"
    rasters_dir: Path | None = None  # where raster COGs are kept; None: no raster files


@dataclass(frozen=True)
class BuiltPackage:
    """The finished ZIP and what it was built from."""

    path: Path
    file_name: str
    size: int
    sha256: str
    versions: list[int]


def slug(text: str) -> str:
    """A file-name-safe ASCII form of a German name: ``Mücheln (Geiseltal)`` →
    ``Muecheln_Geiseltal``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text.translate(_UMLAUTS)).strip("_") or "Gebiet"


def tables_of(themes: list[str]) -> list[str]:
    """The canonical tables a package of these themes reads (boundaries always)."""
    names = ["municipality"]
    for theme in themes:
        names += THEMES[theme].tables
    if "land_use" in themes or "buildings" in themes:
        names += ["grid_value", "parcel"]  # green space per resident, built-up share
    if "flood" in themes:
        names += ["building", "grid_value"]  # buildings and residents in flood zones
    return sorted(set(names))


def current_sources(conn: Connection, themes: list[str]) -> list[SourceUse]:
    """The current dataset versions the themes read, with their licences."""
    rows = conn.execute(query("current_versions", SQL), {"tables": tables_of(themes)})
    return [SourceUse(**row) for row in rows.mappings()]


def _notes(spec: BuildSpec, sources: list[SourceUse], layers: list[PackageLayer]) -> list[str]:
    themes = spec.request.themes
    notes = [
        "Flurstücke, Gebäude, Zensus-Gitterzellen und Bebauungspläne sind vollständig "
        "enthalten, wenn sie das Gebiet mit einer Fläche überlappen; die tatsächliche Nutzung "
        "ist auf das Gebiet zugeschnitten. Der Anteil eines Flurstücks im Gebiet steht in der "
        "Spalte „anteil_im_gebiet_prozent“.",
        f"Die Ebenen liegen im Koordinatenreferenzsystem {spec.request.output_crs} "
        f"({OUTPUT_CRS[spec.request.output_epsg]}) vor; berechnet wird in EPSG:25832.",
        "Vergleichswerte „Gemeinde“ beziehen sich auf die ganze Gemeinde "
        f"({', '.join(spec.area.municipality_names)}), berechnet nach derselben Methode.",
    ]
    if "traffic" in themes:
        notes.append(
            f"Verkehrszählstellen: im Gebiet und im Umkreis von {spec.traffic_radius_m:,.0f} m "
            "(Spalten „lage“ und „abstand_m“).".replace(",", ".")
        )
    if "vacancy" in themes:
        if spec.restricted_ags:
            notes.append(
                "Dieses Paket enthält personenbezogene Einzeldaten des Leerstandskatasters "
                "(Ebene „leerstand“). Nur für den Dienstgebrauch der berechtigten Stelle; nicht "
                "weitergeben und nach Zweckerfüllung löschen (DSGVO)."
            )
        else:
            notes.append(
                "Das Leerstandskataster enthält personenbezogene Daten. Dieses Paket enthält nur "
                "die veröffentlichte, zusammengefasste Ebene (100-m-Zellen mit mindestens "
                f"{spec.vacancy_min_count} Einträgen). Einzeldaten erhalten berechtigte "
                "Mitarbeiterinnen und Mitarbeiter der Gemeinde mit einem Zugang."
            )
    if "flood" in themes:
        notes.append(
            "Hochwasser: Die Überflutungsflächen (Ebene „ueberschwemmungsgebiete“) sind auf das "
            "Gebiet zugeschnitten, je Szenario, Wassertiefenklasse und Art (Gefahrenfläche, "
            "festgesetztes oder vorläufig gesichertes Überschwemmungsgebiet). Die Ebene "
            "„gebaeude_hochwasser“ enthält die ganzen Gebäude, die eine Überflutungsfläche im "
            "Gebiet berühren, mit den betroffenen Szenarien."
        )
    loaded = {s.target_table for s in sources}
    for theme in themes:
        if not set(THEMES[theme].tables) & loaded:
            notes.append(f"Für das Thema „{THEMES[theme].label}“ liegen noch keine Daten vor.")
    empty = [layer.title for layer in layers if layer.frame.empty]
    if empty:
        notes.append(f"Ohne Objekte im Gebiet: {', '.join(empty)}.")
    return notes


# OGR_CURRENT_DATE is a process-wide GDAL option: one GeoPackage is written at a time
_GPKG_LOCK = threading.Lock()


def _write_gpkg(path: Path, layers: list[PackageLayer], epsg: int, stamp: dt.datetime) -> None:
    """Every layer into one GeoPackage in `epsg`, with a QGIS style each."""
    with _GPKG_LOCK:
        _write_layers(path, layers, epsg, stamp)


def _write_layers(path: Path, layers: list[PackageLayer], epsg: int, stamp: dt.datetime) -> None:
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp.strftime("%Y-%m-%dT%H:%M:%SZ")})
    try:
        written = []
        for layer in layers:
            data = layer.frame if epsg == 25832 else layer.frame.to_crs(epsg=epsg)
            geometry_type = LAYERS[layer.name].geometry_type
            pyogrio.write_dataframe(
                data,
                path,
                layer=layer.name,
                driver="GPKG",
                geometry_type=geometry_type,
                promote_to_multi=geometry_type.startswith("Multi"),
                layer_options={
                    "IDENTIFIER": layer.title,
                    "DESCRIPTION": layer.title,
                    "SPATIAL_INDEX": "YES",
                },
            )
            written.append(
                (layer.name, "geom", styles.qml_style(layer.name, list(layer.frame.columns)))
            )
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
    styles.write_layer_styles(path, written, stamp)


def _write_geojson(folder: Path, layers: list[PackageLayer]) -> list[Path]:
    """Each layer as RFC 7946 GeoJSON (WGS 84)."""
    folder.mkdir()
    paths = []
    for layer in layers:
        path = folder / f"{layer.name}.geojson"
        pyogrio.write_dataframe(
            layer.frame.to_crs(epsg=4326),
            path,
            driver="GeoJSON",
            layer_options={"RFC7946": "YES", "WRITE_NAME": "NO"},
        )
        paths.append(path)
    return paths


def _bbox_wkt(geometry: shapely.Geometry) -> str:
    to_wgs84 = pyproj.Transformer.from_crs(25832, 4326, always_xy=True)
    minx, miny, maxx, maxy = to_wgs84.transform_bounds(*geometry.bounds)
    return shapely.to_wkt(shapely.box(minx, miny, maxx, maxy), rounding_precision=6)


def build_package(
    conn: Connection, spec: BuildSpec, out: Path, progress: Progress = lambda p, s: None
) -> BuiltPackage:
    """Build the package of `spec` into the ZIP `out` (written aside, then renamed)."""
    request = spec.request
    themes = request.themes
    progress(2, "Daten werden gelesen")
    snapshot = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with snapshot.begin():
        # one snapshot: a harvest finishing meanwhile changes nothing in this package
        sources = current_sources(snapshot, themes)
        # the open rasters (their COG files stay until two newer versions exist)
        rasters = (
            current_rasters(snapshot, spec.rasters_dir, access="open")
            if "flood" in themes and spec.rasters_dir is not None
            else []
        )
        ags = spec.area.ags
        municipality_wkb = bytes(
            snapshot.execute(query("municipality_union", SQL), {"ags": ags}).scalar_one()
        )
        progress(10, "Ebenen werden ausgeschnitten")
        layers = select_layers(
            snapshot,
            themes=themes,
            area=spec.area.wkb,
            area_name=spec.area.name,
            area_m2=spec.area.area_m2,
            ags=ags,
            restricted_ags=spec.restricted_ags,
            traffic_radius_m=spec.traffic_radius_m,
        )
        progress(40, "Kennzahlen werden berechnet")
        municipality_geometry = shapely.from_wkb(municipality_wkb)
        indicators = compute_indicators(
            snapshot,
            area=Region(spec.area.wkb, spec.area.area_m2),
            municipality=Region(municipality_wkb, float(municipality_geometry.area)),
            themes=themes,
            restricted_ags=spec.restricted_ags,
            sources=sources,
            traffic_radius_m=spec.traffic_radius_m,
            min_count=spec.vacancy_min_count,
            rasters=rasters,
        )
        postgis = str(snapshot.execute(text("SELECT postgis_full_version()")).scalar_one())
    data_date = max((s.published_at for s in sources), default=dt.datetime(2000, 1, 1)).date()
    stamp = dt.datetime.combine(data_date, dt.time(), dt.UTC)
    zip_date = (data_date.year, data_date.month, data_date.day, 0, 0, 0)
    title = f"Datenpaket {spec.area.name}"
    folder_name = f"Datenpaket_{slug(spec.area.name)}"
    work = out.parent / f".{out.name}.d"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        files: dict[str, Path] = {}

        def put(name: str, data: bytes | str) -> None:
            path = work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
            files[name] = path

        package_rasters = []
        if rasters:
            progress(45, "Rasterdaten werden ausgeschnitten")
            for raster, path in flood.clip_rasters(rasters, spec.area.geometry, work):
                package_rasters.append(raster)
                files[raster.name] = path
        if "gpkg" in request.formats:
            progress(50, "GeoPackage wird geschrieben")
            _write_gpkg(work / GPKG_NAME, layers, request.output_epsg, stamp)
            files[GPKG_NAME] = work / GPKG_NAME
        if "geojson" in request.formats:
            for path in _write_geojson(work / "geojson", layers):
                files[f"geojson/{path.name}"] = path
        if "csv" in request.formats:
            put("indikatoren.csv", tables.indicators_csv(indicators))
            parcels = next((la for la in layers if la.name == "flurstuecke"), None)
            if parcels is not None:
                put("flurstuecksliste.csv", tables.parcel_list_csv(parcels.frame))
        if "xlsx" in request.formats:
            put("indikatoren.xlsx", tables.indicators_xlsx(indicators, title, stamp))
        report_input = ReportInput(
            title=title,
            area_name=spec.area.name,
            municipality_names=spec.area.municipality_names,
            area_ha=spec.area.area_m2 / 1e4,
            data_date=data_date,
            themes=[(t, THEMES[t].label) for t in themes],
            output_crs=request.output_crs,
            layers=layers,
            area=spec.area.geometry,
            municipality=municipality_geometry,
            indicators=indicators,
            sources=sources,
            notes=_notes(spec, sources, layers) + flood.raster_notes(package_rasters),
            rasters=package_rasters,
        )
        if {"html", "pdf"} & set(request.formats):
            progress(65, "Karten werden gezeichnet")
            images = maps.render_maps(report_input)
            for image in images:
                put(f"karten/{image.name}.png", image.png)
            progress(80, "Bericht wird gesetzt")
            if "html" in request.formats:
                put("bericht.html", report.render_html(report_input, images))
            if "pdf" in request.formats:
                put("bericht.pdf", report.render_pdf(report_input, images))
        put("LIZENZEN.txt", tables.licences_text(sources, title))
        progress(92, "Metadaten und Prüfsummen")

        def listing() -> list[tuple[str, int, str]]:
            return [(n, p.stat().st_size, sha256_file(p)) for n, p in sorted(files.items())]

        normalized = request.model_dump(mode="json")
        put(
            "metadaten.json",
            _json(
                dcat_description(
                    identifier=spec.identifier,
                    title=title,
                    description=(
                        f"ISEK/IGEK-Datenpaket für {spec.area.name} "
                        f"({', '.join(spec.area.municipality_names)}): "
                        f"{', '.join(THEMES[t].label for t in themes)}."
                    ),
                    data_date=data_date,
                    bbox_wkt_crs84=_bbox_wkt(spec.area.geometry),
                    themes=themes,
                    sources=sources,
                    files=listing(),
                    public_url=spec.public_url,
                )
            ),
        )
        put(
            "manifest.json",
            _json(
                manifest(
                    identifier=spec.identifier,
                    request=normalized,
                    area={
                        "name": spec.area.name,
                        "ags": spec.area.ags,
                        "municipalities": spec.area.municipality_names,
                        "area_ha": round(spec.area.area_m2 / 1e4, 4),
                        "restricted_ags": spec.restricted_ags,
                    },
                    data_date=data_date,
                    sources=sources,
                    files=listing(),
                    software={
                        "planungsdaten": __version__,
                        "postgis": postgis,
                        "gdal": pyogrio.__gdal_version_string__,
                        "geos": shapely.geos_version_string,
                        "proj": pyproj.proj_version_str,
                    },
                )
            ),
        )
        progress(96, "ZIP wird gepackt")
        partial = out.with_name(out.name + ".part")
        tables.write_zip(
            partial,
            [(f"{folder_name}/{name}", path) for name, path in sorted(files.items())],
            zip_date,
        )
        partial.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BuiltPackage(
        path=out,
        file_name=f"{folder_name}_{data_date.isoformat()}.zip",
        size=out.stat().st_size,
        sha256=sha256_file(out),
        versions=sorted({s.version_id for s in sources}),
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
