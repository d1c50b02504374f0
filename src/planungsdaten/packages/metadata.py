"""metadaten.json (a DCAT-AP description of the package) and manifest.json (how it was made)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from planungsdaten.packages.model import SourceUse
from planungsdaten.packages.themes import THEMES

MEDIA_TYPES = {
    ".gpkg": "https://www.iana.org/assignments/media-types/application/geopackage+sqlite3",
    ".csv": "https://www.iana.org/assignments/media-types/text/csv",
    ".xlsx": "https://www.iana.org/assignments/media-types/application/"
    "vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".html": "https://www.iana.org/assignments/media-types/text/html",
    ".pdf": "https://www.iana.org/assignments/media-types/application/pdf",
    ".png": "https://www.iana.org/assignments/media-types/image/png",
    ".json": "https://www.iana.org/assignments/media-types/application/json",
    ".geojson": "https://www.iana.org/assignments/media-types/application/geo+json",
    ".txt": "https://www.iana.org/assignments/media-types/text/plain",
    ".tif": "https://www.iana.org/assignments/media-types/image/tiff",
}
FILE_TYPES = {
    ".gpkg": "GPKG",
    ".csv": "CSV",
    ".xlsx": "XLSX",
    ".html": "HTML",
    ".pdf": "PDF",
    ".png": "PNG",
    ".json": "JSON",
    ".geojson": "GEOJSON",
    ".txt": "TXT",
    ".tif": "TIFF",
}
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "dcatde": "http://dcat-ap.de/def/dcatde/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "locn": "http://www.w3.org/ns/locn#",
    "spdx": "http://spdx.org/rdf/terms#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "gsp": "http://www.opengis.net/ont/geosparql#",
}


def _suffix(name: str) -> str:
    return name[name.rfind(".") :].lower() if "." in name else ""


def _literal(text: str) -> dict[str, str]:
    return {"@value": text, "@language": "de"}


def _date(value: dt.date) -> dict[str, str]:
    return {"@value": value.isoformat(), "@type": "xsd:date"}


def dcat_description(
    *,
    identifier: str,
    title: str,
    description: str,
    data_date: dt.date,
    bbox_wkt_crs84: str,
    themes: Sequence[str],
    sources: Sequence[SourceUse],
    files: Sequence[tuple[str, int, str]],
    public_url: str,
) -> dict[str, Any]:
    """The package as a `dcat:Dataset` (JSON-LD) with one distribution per file; `files` are
    (path in the ZIP, bytes, sha256)."""
    licences = sorted({s.licence for s in sources})
    distributions = [
        {
            "@type": "dcat:Distribution",
            "dct:title": _literal(name),
            "dct:identifier": name,
            "dct:format": {
                "@id": "http://publications.europa.eu/resource/authority/file-type/"
                + FILE_TYPES.get(_suffix(name), "BIN")
            },
            "dcat:mediaType": {"@id": MEDIA_TYPES.get(_suffix(name), "")},
            "dcat:byteSize": {"@value": str(size), "@type": "xsd:nonNegativeInteger"},
            "spdx:checksum": {
                "@type": "spdx:Checksum",
                "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
                "spdx:checksumValue": {"@value": sha, "@type": "xsd:hexBinary"},
            },
            **({"dct:license": {"@id": licences[0]}} if len(licences) == 1 else {}),
        }
        for name, size, sha in files
    ]
    return {
        "@context": CONTEXT,
        "@id": f"{public_url}/api/packages/datasets/{identifier}",
        "@type": "dcat:Dataset",
        "dct:identifier": identifier,
        "dct:title": _literal(title),
        "dct:description": _literal(description),
        "dct:issued": _date(data_date),
        "dct:modified": _date(data_date),
        "dct:language": {"@id": "http://publications.europa.eu/resource/authority/language/DEU"},
        "dcat:theme": [
            {"@id": "http://publications.europa.eu/resource/authority/data-theme/REGI"},
            {"@id": "http://publications.europa.eu/resource/authority/data-theme/ENVI"},
        ],
        "dcat:keyword": [
            _literal(k) for k in ("ISEK", "IGEK", "Stadtentwicklung", "Städtebauförderung")
        ]
        + [_literal(THEMES[t].label) for t in themes if t in THEMES],
        "dct:spatial": {
            "@type": "dct:Location",
            "dcat:bbox": {"@value": bbox_wkt_crs84, "@type": "gsp:wktLiteral"},
        },
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": "planungsdaten"},
        "dct:license": [{"@id": uri} for uri in licences],
        "dcatde:licenseAttributionByText": _literal(
            "; ".join(dict.fromkeys(s.attribution for s in sources))
        ),
        "dct:source": [
            {"@id": f"{public_url}/api/sources/{source_id}"}
            for source_id in sorted({s.source_id for s in sources})
        ],
        "dcat:distribution": distributions,
    }


def manifest(
    *,
    identifier: str,
    request: dict[str, Any],
    area: dict[str, Any],
    data_date: dt.date,
    sources: Sequence[SourceUse],
    files: Sequence[tuple[str, int, str]],
    software: dict[str, str],
) -> dict[str, Any]:
    """What the package was built from and of: request, dataset versions, files with sha256."""
    return {
        "package": identifier,
        "request": request,
        "area": area,
        "data_date": data_date.isoformat(),
        "datasets": [
            {
                "source": s.source_id,
                "title": s.title,
                "table": s.target_table,
                "layer": s.layer,
                "dataset_version": s.version_id,
                "published_at": s.published_at.isoformat(),
                "source_sha256": s.checksum_sha256,
                "features": s.feature_count,
                "licence": s.licence,
                "attribution": s.attribution,
                "access": s.access,
            }
            for s in sources
        ],
        "files": [{"path": name, "bytes": size, "sha256": sha} for name, size, sha in files],
        "software": software,
    }
