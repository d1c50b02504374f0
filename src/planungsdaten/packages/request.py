"""A package request as planners send it: an area (AGS or GeoJSON), themes and options."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planungsdaten.errors import german_validation_message
from planungsdaten.packages.errors import InvalidPackageRequestError, MalformedRequestError
from planungsdaten.packages.themes import THEMES

FORMATS: dict[str, str] = {
    "gpkg": "GeoPackage mit QGIS-Stilen",
    "geojson": "GeoJSON je Ebene (WGS 84)",
    "csv": "CSV-Tabellen (Indikatoren, Flurstücksliste)",
    "xlsx": "Excel-Tabelle der Indikatoren",
    "html": "Bericht als HTML",
    "pdf": "Bericht als PDF",
}
DEFAULT_FORMATS = ("csv", "gpkg", "html", "pdf", "xlsx")
# the CRSs a package can be written in (EPSG codes) and a drawn area can be given in
OUTPUT_CRS = {
    25832: "ETRS89 / UTM 32N",
    25833: "ETRS89 / UTM 33N",
    3035: "ETRS89-LAEA",
    4326: "WGS 84",
    4258: "ETRS89",
}
AREA_CRS = {"CRS84": 4326, **{f"EPSG:{code}": code for code in (4326, 4258, 25832, 25833, 3035)}}

_CRS_PATTERNS = (
    re.compile(r"^(?:EPSG:)?(?P<code>\d{4,5})$", re.IGNORECASE),
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(?P<code>\d{4,5})$"),
    re.compile(r"^urn:ogc:def:crs:EPSG::(?P<code>\d{4,5})$", re.IGNORECASE),
)
_CRS84 = {
    "crs84",
    "ogc:crs84",
    "http://www.opengis.net/def/crs/ogc/1.3/crs84",
    "urn:ogc:def:crs:ogc:1.3:crs84",
}


def parse_crs(value: str) -> str:
    """`"25832"`, `"EPSG:25832"`, an OGC CRS URI or CRS84 → `"EPSG:25832"` or `"CRS84"`."""
    text = value.strip()
    if text.lower() in _CRS84:
        return "CRS84"
    for pattern in _CRS_PATTERNS:
        match = pattern.match(text)
        if match:
            return f"EPSG:{int(match['code'])}"
    raise ValueError(f"Koordinatenreferenzsystem '{value}' nicht erkannt")


class PackageRequest(BaseModel):
    """`POST /api/packages`: either `ags` or `area` (GeoJSON Polygon/MultiPolygon)."""

    model_config = ConfigDict(extra="forbid")

    ags: str | None = Field(None, description="Amtlicher Gemeindeschlüssel, 8 Ziffern")
    area: dict[str, Any] | None = Field(
        None, description="GeoJSON Polygon/MultiPolygon (auch als Feature/FeatureCollection)"
    )
    area_crs: str = Field("CRS84", description="CRS von `area`: CRS84 oder z. B. EPSG:25832")
    name: str | None = Field(None, max_length=200, description="Name des Gebiets")
    themes: list[str] = Field(
        default_factory=lambda: list(THEMES), description=f"Themen: {', '.join(THEMES)}"
    )
    output_crs: str = Field("EPSG:25832", description="CRS der Ebenen im GeoPackage")
    formats: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FORMATS), description=f"Formate: {', '.join(FORMATS)}"
    )
    restricted: bool | None = Field(
        None,
        description="Einzeldaten zugriffsbeschränkter Ebenen (Leerstandskataster): true = "
        "verlangen (403, wenn der Schlüssel für eine der Gemeinden nicht gilt), false = nie, "
        "fehlt = soweit berechtigt",
    )

    @field_validator("ags")
    @classmethod
    def _ags(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{8}", value.strip()):
            raise ValueError(
                f"'{value}' ist kein gültiger Amtlicher Gemeindeschlüssel: erwartet werden "
                "genau 8 Ziffern, z. B. 15088235"
            )
        return value.strip() if value else value

    @field_validator("themes")
    @classmethod
    def _themes(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in THEMES]
        if unknown:
            known = ", ".join(f"{k} ({t.label})" for k, t in THEMES.items())
            raise ValueError(f"unbekanntes Thema {', '.join(map(repr, unknown))}; möglich: {known}")
        if not value:
            raise ValueError("mindestens ein Thema angeben")
        return sorted(set(value), key=list(THEMES).index)

    @field_validator("formats")
    @classmethod
    def _formats(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in FORMATS]
        if unknown:
            raise ValueError(
                f"unbekanntes Format {', '.join(map(repr, unknown))}; möglich: {', '.join(FORMATS)}"
            )
        return sorted(set(value))

    @field_validator("output_crs")
    @classmethod
    def _output_crs(cls, value: str) -> str:
        crs = parse_crs(value)
        code = 4326 if crs == "CRS84" else int(crs.split(":")[1])
        if code not in OUTPUT_CRS:
            allowed = ", ".join(f"EPSG:{c} ({n})" for c, n in OUTPUT_CRS.items())
            raise ValueError(f"Ausgabe-CRS {value} wird nicht angeboten; möglich: {allowed}")
        return f"EPSG:{code}"

    @field_validator("area_crs")
    @classmethod
    def _area_crs(cls, value: str) -> str:
        crs = parse_crs(value)
        if crs not in AREA_CRS:
            raise ValueError(
                f"CRS {value} für das Gebiet wird nicht unterstützt; möglich: {', '.join(AREA_CRS)}"
            )
        return crs

    @model_validator(mode="after")
    def _one_area(self) -> PackageRequest:
        if (self.ags is None) == (self.area is None):
            raise ValueError(
                "genau eines angeben: 'ags' (Gemeinde) oder 'area' (GeoJSON-Polygon des Gebiets)"
            )
        return self

    @property
    def output_epsg(self) -> int:
        return int(self.output_crs.split(":")[1])


def describe_validation_error(error: ValidationError) -> str:
    """A pydantic error in German: one `field: problem` per failure."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "Anfrage"
        problem = german_validation_message(item)
        parts.append(problem if where == "Anfrage" else f"{where}: {problem}")
    return "Ungültige Paketanfrage – " + "; ".join(parts)


def parse_request(body: bytes | str | dict[str, Any]) -> PackageRequest:
    """The request from a JSON body; German errors saying what to change."""
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise MalformedRequestError(
                f"Der Anfragetext ist kein gültiges JSON ({e}). Erwartet wird z. B. "
                '{"ags": "15088235", "themes": ["cadastre", "population"]}.'
            ) from e
    else:
        data = body
    if not isinstance(data, dict):
        raise MalformedRequestError(
            'Der Anfragetext muss ein JSON-Objekt sein, z. B. {"ags": "15088235"}.'
        )
    try:
        return PackageRequest.model_validate(data)
    except ValidationError as e:
        raise InvalidPackageRequestError(describe_validation_error(e)) from e


def canonical_json(value: Any) -> str:
    """Sorted, compact JSON: the same value always gives the same text (cache keys, hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
