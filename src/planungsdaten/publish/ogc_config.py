"""Generate the pygeoapi configuration from the catalogue: one collection per open dataset."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from planungsdaten.db.queries import query

STORAGE_CRS = "http://www.opengis.net/def/crs/EPSG/0/25832"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
OUTPUT_CRS = [
    CRS84,
    "http://www.opengis.net/def/crs/EPSG/0/4326",
    STORAGE_CRS,
    "http://www.opengis.net/def/crs/EPSG/0/25833",
    "http://www.opengis.net/def/crs/EPSG/0/3035",
]

# dcat-ap.de licence URI → human-readable page for the OGC `license` link
LICENCE_PAGES = {
    "http://dcat-ap.de/def/licenses/dl-by-de/2.0": (
        "Datenlizenz Deutschland – Namensnennung – Version 2.0",
        "https://www.govdata.de/dl-de/by-2-0",
    ),
    "http://dcat-ap.de/def/licenses/dl-zero-de/2.0": (
        "Datenlizenz Deutschland – Zero – Version 2.0",
        "https://www.govdata.de/dl-de/zero-2-0",
    ),
    "http://dcat-ap.de/def/licenses/cc-by/4.0": (
        "Creative Commons Namensnennung 4.0 International",
        "https://creativecommons.org/licenses/by/4.0/",
    ),
}


@dataclass(frozen=True)
class CollectionSpec:
    """How a canonical table is published as an OGC API Features collection."""

    collection_id: str
    title: str
    description: str
    keywords: tuple[str, ...]
    id_field: str
    geom_field: str = "geom"


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


def _resource(spec: CollectionSpec, row: Any, connection: dict[str, Any]) -> dict[str, Any]:
    links = []
    for licence in row.licences:
        title, href = LICENCE_PAGES.get(licence, (licence, licence))
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
                "name": "PostgreSQL",
                "data": connection,
                "id_field": spec.id_field,
                "table": row.target_table,
                "geom_field": spec.geom_field,
                "storage_crs": STORAGE_CRS,
                "crs": OUTPUT_CRS,
            }
        ],
    }
    if published is not None:
        resource["extents"]["temporal"] = {"begin": None, "end": published.isoformat()}
    return resource


def load_base(ogc_dir: Path) -> dict[str, Any]:
    """The hand-written part: server, metadata, contact."""
    with (ogc_dir / "base.yml").open(encoding="utf-8") as fh:
        base: dict[str, Any] = yaml.safe_load(fh)
    return base


def build_config(
    engine: Engine, base: dict[str, Any], public_url: str, database_url: str
) -> dict[str, Any]:
    """Full pygeoapi configuration: `base` plus one collection per open current dataset."""
    config = copy.deepcopy(base)
    config["server"]["url"] = f"{public_url}/ogc"
    connection = _connection_data(database_url)
    resources: dict[str, Any] = {}
    with engine.connect() as conn:
        for row in conn.execute(query("published_datasets")):
            spec = COLLECTIONS.get(row.target_table)
            if spec is not None and row.xmin is not None:
                resources[spec.collection_id] = _resource(spec, row, connection)
    config["resources"] = resources
    return config
