"""Generate the pygeoapi configuration from the catalogue: one collection per open dataset."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from planungsdaten.db.queries import query
from planungsdaten.licences import licence_page
from planungsdaten.publish.coverages import (
    COVERAGES_KEY,
    DEFAULT_MAX_CELLS,
    LIMIT_KEY,
    coverage_facts,
    coverage_resource,
)
from planungsdaten.publish.provider import json_type
from planungsdaten.rasters.store import current_rasters

log = logging.getLogger(__name__)

STORAGE_CRS = "http://www.opengis.net/def/crs/EPSG/0/25832"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
OUTPUT_CRS = [
    CRS84,
    "http://www.opengis.net/def/crs/EPSG/0/4326",
    STORAGE_CRS,
    "http://www.opengis.net/def/crs/EPSG/0/25833",
    "http://www.opengis.net/def/crs/EPSG/0/3035",
]


@dataclass(frozen=True)
class TileSpec:
    """How a collection is offered as vector tiles (OGC API Tiles, MVT): the zoom range,
    the zoom from which tiles carry full detail (simplified below it) and the attributes
    each tile feature carries (a useful few, not every column)."""

    min_zoom: int
    max_zoom: int
    detail_zoom: int
    properties: tuple[str, ...]


@dataclass(frozen=True)
class CollectionSpec:
    """How a canonical table is published: as an OGC API Features collection, a bulk
    download and a catalogue entry. `table` is the relation read (a table or a view)."""

    collection_id: str
    title: str
    description: str
    keywords: tuple[str, ...]
    id_field: str
    table: str
    geom_field: str = "geom"
    hvd_category: str | None = None
    time_field: str | None = None
    # EU data themes (http://publications.europa.eu/resource/authority/data-theme/…)
    themes: tuple[str, ...] = ("REGI",)
    tiles: TileSpec | None = None


HVD = "http://data.europa.eu/bna/"
# the attribute names of each collection, for checking query parameters; not pygeoapi's
PROPERTIES_KEY = "x-planungsdaten-properties"
# collections without a temporal property: `datetime` is checked, then has nothing to filter
TIMELESS_KEY = "x-planungsdaten-timeless"
# where pygeoapi's HTML pages find the vendored libraries (read by the templates below)
STATIC_URL_KEY = "x-planungsdaten-static-url"
# overrides of pygeoapi's templates: searched before its own, so only changed ones are here
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates" / "ogc"
COLLECTIONS: dict[str, CollectionSpec] = {
    "municipality": CollectionSpec(
        collection_id="municipalities",
        title="Gemeinden",
        description=(
            "Gemeindegrenzen mit Amtlichem Gemeindeschlüssel (AGS), Regionalschlüssel (ARS), "
            "Name und Landkreis."
        ),
        keywords=("Gemeinde", "Verwaltungsgrenze", "AGS", "Verwaltungseinheiten"),
        id_field="ags",
        table="municipality",
        hvd_category=HVD + "c_9427236f",
        themes=("REGI", "GOVE"),
    ),
    "parcel": CollectionSpec(
        collection_id="parcels",
        title="Flurstücke",
        description=(
            "Flurstücke des Liegenschaftskatasters (ALKIS) mit Flurstückskennzeichen, "
            "Gemarkung, Flur, Zähler/Nenner, amtlicher Fläche und Lagebezeichnung."
        ),
        keywords=("Flurstück", "Liegenschaftskataster", "ALKIS", "Flurstücke"),
        id_field="flurstueckskennzeichen",
        table="parcel",
        hvd_category=HVD + "c_6a3f6896",
        tiles=TileSpec(
            min_zoom=10,
            max_zoom=20,
            detail_zoom=13,
            properties=(
                "flurstueckskennzeichen",
                "gemarkung",
                "gemarkung_name",
                "flur",
                "zaehler",
                "nenner",
                "amtliche_flaeche",
                "location_text",
            ),
        ),
    ),
    "building": CollectionSpec(
        collection_id="buildings",
        title="Gebäude",
        description=(
            "Gebäudegrundrisse des Liegenschaftskatasters (ALKIS) mit Gebäudefunktion, "
            "Geschosszahl und Lagebezeichnung."
        ),
        keywords=("Gebäude", "ALKIS", "Hausumringe", "Gebäudefunktion"),
        id_field="source_object_id",
        table="building",
        hvd_category=HVD + "c_60182062",
        tiles=TileSpec(
            min_zoom=12,
            max_zoom=20,
            detail_zoom=14,
            properties=(
                "source_object_id",
                "function_code",
                "function_name",
                "storeys",
                "name",
                "location_text",
            ),
        ),
    ),
    "land_use": CollectionSpec(
        collection_id="land_use",
        title="Tatsächliche Nutzung",
        description=(
            "Flächen der tatsächlichen Nutzung des Liegenschaftskatasters (ALKIS) mit "
            "Nutzungsart und Nutzungsgruppe (Siedlung, Verkehr, Vegetation, Gewässer)."
        ),
        keywords=("Flächennutzung", "tatsächliche Nutzung", "ALKIS", "Landnutzung"),
        id_field="fid",
        table="land_use",
        themes=("REGI", "ENVI"),
        tiles=TileSpec(
            min_zoom=10,
            max_zoom=20,
            detail_zoom=13,
            properties=("fid", "nutzart", "name", "nutzung_group"),
        ),
    ),
    "address": CollectionSpec(
        collection_id="addresses",
        title="Adressen (Hausnummern)",
        description="Georeferenzierte Adressen: Straße, Hausnummer, Zusatz, Postleitzahl, Ort.",
        keywords=("Adresse", "Hausnummer", "Hauskoordinaten"),
        id_field="fid",
        table="address",
        hvd_category=HVD + "c_c3de25e4",
    ),
    "grid_value": CollectionSpec(
        collection_id="zensus",
        title="Zensus 2022 im Gitter",
        description=(
            "Ergebnisse des Zensus 2022 je Gitterzelle (100 m und 1 km, INSPIRE-Gitter): "
            "Einwohner, Altersstruktur, Wohnungen, Leerstandsquoten. Eine Zeile je Zelle und "
            "Merkmal (Feld `indicator`); geheim gehaltene Werte sind leer mit Hinweis im "
            "Feld `flag`."
        ),
        keywords=("Zensus 2022", "Gitter", "Einwohner", "Bevölkerung", "Wohnungen"),
        id_field="id",
        table="grid_value_feature",
        time_field="reference_date",
        themes=("REGI", "SOCI"),
    ),
    "traffic_count": CollectionSpec(
        collection_id="traffic_counts",
        title="Verkehrszählstellen",
        description=(
            "Zählstellen mit durchschnittlicher täglicher Verkehrsstärke (DTV) aller "
            "Kraftfahrzeuge und des Schwerverkehrs je Zähljahr."
        ),
        keywords=("Verkehr", "Verkehrszählung", "DTV", "Schwerverkehr"),
        id_field="fid",
        table="traffic_count",
        themes=("TRAN", "REGI"),
    ),
    "development_plan": CollectionSpec(
        collection_id="development_plans",
        title="Bebauungspläne",
        description=(
            "Geltungsbereiche von Bebauungs- und Flächennutzungsplänen (XPlanung) mit Name, "
            "Nummer, Planart, Rechtsstand und Daten."
        ),
        keywords=("Bebauungsplan", "XPlanung", "Bauleitplanung", "B-Plan"),
        id_field="source_object_id",
        table="development_plan",
        time_field="in_force_date",
    ),
    "vacancy_aggregate": CollectionSpec(
        collection_id="vacancy",
        title="Leerstand je 100-m-Gitterzelle",
        description=(
            "Anzahl der im Leerstandskataster erfassten leeren Einheiten je 100-m-Gitterzelle "
            "(INSPIRE-Gitter), gesamt und nach Nutzung. Zellen mit weniger Einträgen als der "
            "Geheimhaltungsschwelle werden nicht veröffentlicht; Einzelangaben nie."
        ),
        keywords=("Leerstand", "Wohnungsleerstand", "Gitterzelle", "ISEK"),
        id_field="unit_id",
        table="vacancy_aggregate",
        themes=("REGI", "SOCI"),
    ),
    "flood_zone": CollectionSpec(
        collection_id="flood_zones",
        title="Hochwassergefahrenflächen und Überschwemmungsgebiete",
        description=(
            "Überflutungsflächen der Hochwassergefahrenkarten (EU-Hochwasserrisikomanagement"
            "richtlinie) je Szenario – HQhaeufig, HQ100, HQextrem – mit Gewässer und "
            "Wassertiefenklasse, sowie festgesetzte und vorläufig gesicherte "
            "Überschwemmungsgebiete (Feld `kind`)."
        ),
        keywords=("Hochwasser", "Überschwemmungsgebiet", "HQ100", "Hochwassergefahrenkarte"),
        id_field="source_object_id",
        table="flood_zone",
        themes=("ENVI", "REGI"),
    ),
}


def _connection_data(database_url: str) -> dict[str, Any]:
    url = make_url(database_url)
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "dbname": url.database,
        "user": url.username,
        "password": url.password,
        "search_path": ["public"],
    }


# bookkeeping of the canonical tables, no property of a feature (the partition key)
INTERNAL_COLUMNS = frozenset({"dataset_version_id"})
# our provider plugin (planungsdaten.publish.provider), by dotted path
PROVIDER = "planungsdaten.publish.provider.PostGISProvider"


def _resource(
    spec: CollectionSpec,
    row: Any,
    connection: dict[str, Any],
    columns: list[dict[str, str]],
    version_ids: list[int],
) -> dict[str, Any]:
    links = []
    for licence in row.licences:
        title, href = licence_page(licence) or (licence, licence)
        links.append({"type": "text/html", "rel": "license", "title": title, "href": href})
    published: datetime | None = row.published_at
    description = spec.description + " Quellen: " + "; ".join(row.attributions) + "."
    resource: dict[str, Any] = {
        "type": "collection",
        "title": {"de": spec.title},
        "description": {"de": description},
        "keywords": {"de": list(spec.keywords)},
        "links": links,
        "extents": {
            "spatial": {
                "bbox": [row.xmin, row.ymin, row.xmax, row.ymax],
                "crs": CRS84,
            },
        },
        "providers": [
            {
                "type": "feature",
                "name": PROVIDER,
                "data": connection,
                # read by our provider: no reflection per request, counts cached per version
                "columns": columns,
                "extent": [row.xmin, row.ymin, row.xmax, row.ymax],
                "version": ",".join(str(v) for v in version_ids),
                "id_field": spec.id_field,
                "table": spec.table,
                "geom_field": spec.geom_field,
                "storage_crs": STORAGE_CRS,
                "crs": OUTPUT_CRS,
                **({"time_field": spec.time_field} if spec.time_field else {}),
            }
        ],
    }
    if published is not None:
        # a datetime, as pygeoapi's YAML loader would give it (it reads .tzinfo)
        end = published.astimezone(UTC).replace(microsecond=0)
        resource["extents"]["temporal"] = {"begin": None, "end": end}
    return resource


def _tile_provider(
    spec: CollectionSpec,
    tiles: TileSpec,
    row: Any,
    connection: dict[str, Any],
    types: dict[str, str],
    version_ids: list[int],
) -> dict[str, Any]:
    """The vector tile provider (planungsdaten.publish.tiles) of a collection with tiles."""
    return {
        "type": "tile",
        "name": "planungsdaten.publish.tiles.PostGISTileProvider",
        "data": connection,
        "table": spec.table,
        "geom_field": spec.geom_field,
        "options": {
            "zoom": {"min": tiles.min_zoom, "max": tiles.max_zoom},
            "schemes": ["WebMercatorQuad", "WorldCRS84Quad"],
            "layer": spec.collection_id,
            "detail_zoom": tiles.detail_zoom,
            "properties": {
                name: json_type(types[name]) for name in tiles.properties if name in types
            },
            "bounds": [row.xmin, row.ymin, row.xmax, row.ymax],
            # the dataset versions behind the tiles: their ETag changes with a harvest
            "version": ",".join(str(v) for v in version_ids),
        },
        "format": {"name": "mvt", "mimetype": "application/vnd.mapbox-vector-tile"},
    }


def load_base(ogc_dir: Path) -> dict[str, Any]:
    """The hand-written part: server, metadata, contact."""
    with (ogc_dir / "base.yml").open(encoding="utf-8") as fh:
        base: dict[str, Any] = yaml.safe_load(fh)
    return base


def build_config(
    engine: Engine,
    base: dict[str, Any],
    public_url: str,
    database_url: str,
    *,
    rasters_dir: Path | None = None,
    max_coverage_cells: int = DEFAULT_MAX_CELLS,
) -> dict[str, Any]:
    """Full pygeoapi configuration: `base` plus one collection per open current dataset
    (and, given `rasters_dir`, one coverage collection per open current raster)."""
    config = copy.deepcopy(base)
    config["server"]["url"] = f"{public_url}/ogc"
    config["server"]["templates"] = {"path": str(TEMPLATES_DIR)}
    config["server"][STATIC_URL_KEY] = f"{public_url}/static"
    connection = _connection_data(database_url)
    resources: dict[str, Any] = {}
    properties: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query("published_datasets")):
            spec = COLLECTIONS.get(row.target_table)
            if spec is not None and row.xmin is not None:
                columns = [
                    c
                    for c in conn.execute(
                        query("relation_columns", "planungsdaten.publish"),
                        {"relation": spec.table},
                    )
                    if c.name not in INTERNAL_COLUMNS
                ]
                versions = conn.execute(
                    query("download_versions", "planungsdaten.publish"),
                    {"source_ids": list(row.source_ids), "target_table": row.target_table},
                ).scalar_one()
                resources[spec.collection_id] = _resource(
                    spec,
                    row,
                    connection,
                    [{"name": c.name, "type": c.type} for c in columns],
                    list(versions),
                )
                properties[spec.collection_id] = [
                    c.name for c in columns if c.name != spec.geom_field
                ]
                if spec.tiles is not None:
                    types = {c.name: c.type for c in columns}
                    resources[spec.collection_id]["providers"].append(
                        _tile_provider(spec, spec.tiles, row, connection, types, list(versions))
                    )
        coverages: dict[str, Any] = {}
        for raster in current_rasters(conn, rasters_dir, access="open") if rasters_dir else []:
            if raster.layer in resources:
                log.warning("raster %s: collection id taken by a vector dataset", raster.layer)
            elif not raster.path.is_file():
                log.error("raster %s: file %s missing, not published", raster.layer, raster.path)
            else:
                resources[raster.layer] = coverage_resource(raster, public_url)
                coverages[raster.layer] = coverage_facts(raster).as_config()
    config["resources"] = resources
    config[COVERAGES_KEY] = coverages
    config[LIMIT_KEY] = max_coverage_cells
    config[PROPERTIES_KEY] = properties
    config[TIMELESS_KEY] = sorted(
        s.collection_id for s in COLLECTIONS.values() if s.time_field is None
    )
    return config
