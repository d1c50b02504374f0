"""An uploaded area file (GeoJSON, or a zipped Shapefile) read into one polygon in CRS84.
The upload is untrusted: its size is capped before it is read, a ZIP is unpacked with the
harvest's safe extraction (no paths outside the folder, no bombs), JSON depth is bounded."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pyogrio
import shapely
from pyproj import CRS
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.protocols.archive import find_member, safe_extract
from planungsdaten.packages.errors import InvalidPackageRequestError, MalformedRequestError
from planungsdaten.settings import LimitSettings

_NAME_FIELDS = ("name", "Name", "NAME", "bezeichnung", "Bezeichnung", "gebiet", "GEN")
_ZIP_MAGIC = b"PK\x03\x04"
_MAX_MEMBERS = 50


class UploadError(InvalidPackageRequestError):
    """The uploaded file is not a usable area; the message says why (German)."""


def _polygons(geometries: list[BaseGeometry], file_name: str) -> BaseGeometry:
    polygons = [g for g in geometries if isinstance(g, Polygon | MultiPolygon) and not g.is_empty]
    if not polygons:
        kinds = sorted({g.geom_type for g in geometries}) or ["keine Geometrie"]
        raise UploadError(
            f"{file_name} enthält keine Fläche (gefunden: {', '.join(kinds)}); erwartet wird "
            "ein Polygon oder MultiPolygon des Gebiets."
        )
    merged = shapely.union_all([shapely.make_valid(p) for p in polygons])
    parts: list[Polygon] = []
    for part in shapely.get_parts(merged):
        parts.extend(p for p in shapely.get_parts(part) if isinstance(p, Polygon))
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _name_of(properties: Any) -> str | None:
    if not isinstance(properties, dict):
        return None
    for key in _NAME_FIELDS:
        value = properties.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return None


def _read_geojson(data: bytes, file_name: str) -> tuple[BaseGeometry, str | None]:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UploadError(
            f"{file_name} ist weder GeoJSON noch ein ZIP-Archiv mit einem Shapefile ({e})."
        ) from e
    except RecursionError as e:
        raise UploadError(f"{file_name} ist zu tief verschachtelt, um gelesen zu werden.") from e
    if not isinstance(document, dict):
        raise UploadError(f"{file_name}: erwartet wird ein GeoJSON-Objekt.")
    crs_name = ((document.get("crs") or {}).get("properties") or {}).get("name")
    if crs_name and CRS.from_user_input(crs_name) != CRS.from_epsg(4326):
        raise UploadError(
            f"{file_name} ist in {crs_name} angegeben; GeoJSON-Gebiete bitte in WGS 84 "
            "(Längen-/Breitengrad) hochladen, oder als Shapefile mit .prj-Datei."
        )
    kind = document.get("type")
    if kind == "FeatureCollection":
        features = document.get("features") or []
    elif kind == "Feature":
        features = [document]
    else:
        features = [{"type": "Feature", "geometry": document, "properties": {}}]
    geometries, name = [], None
    for feature in features:
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            continue
        try:
            geometries.append(shape(feature["geometry"]))
        except (ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
            raise UploadError(f"{file_name}: eine Geometrie ist nicht lesbar ({e}).") from e
        name = name or _name_of(feature.get("properties"))
    return _polygons(geometries, file_name), name


def _read_shapefile_zip(
    path: Path, file_name: str, limits: LimitSettings
) -> tuple[BaseGeometry, str | None]:
    with tempfile.TemporaryDirectory(prefix="planungsdaten-upload-") as folder:
        try:
            members = safe_extract(
                path,
                Path(folder),
                max_total_bytes=limits.max_upload_expanded_bytes,
                max_members=_MAX_MEMBERS,
            )
            shp = find_member(members, [".shp", ".geojson", ".json", ".gpkg"], archive=path)
        except SourceFormatError as e:
            raise UploadError(str(e).replace(path.name, file_name)) from e
        if shp.suffix.lower() == ".shp" and not shp.with_suffix(".prj").exists():
            raise UploadError(
                f"Im Archiv {file_name} fehlt zu {shp.name} die .prj-Datei: ohne sie ist das "
                "Koordinatenreferenzsystem unbekannt."
            )
        try:
            frame = pyogrio.read_dataframe(shp)
        except Exception as e:  # GDAL's errors name the broken part of the file
            raise UploadError(f"{shp.name} aus {file_name} ist nicht lesbar: {e}") from e
        if frame.crs is None:
            raise UploadError(f"{shp.name} aus {file_name} hat kein Koordinatenreferenzsystem.")
        frame = frame.to_crs(4326)
        name = None
        for column in _NAME_FIELDS:
            if column in frame.columns and frame[column].notna().any():
                name = str(frame[column].dropna().iloc[0])[:200]
                break
        return _polygons([g for g in frame.geometry if g is not None], file_name), name


def read_area_file(path: Path, file_name: str, limits: LimitSettings) -> tuple[dict[str, Any], str]:
    """The area in an uploaded file as a GeoJSON geometry (CRS84) and a name for it."""
    size = path.stat().st_size
    if size == 0:
        raise MalformedRequestError(f"Die hochgeladene Datei {file_name} ist leer.")
    with path.open("rb") as f:
        head = f.read(4)
    if head == _ZIP_MAGIC:
        geometry, name = _read_shapefile_zip(path, file_name, limits)
    else:
        geometry, name = _read_geojson(path.read_bytes(), file_name)
    rounded = shapely.set_precision(geometry, 1e-7)
    return mapping(rounded), name or Path(file_name).stem[:200] or "Hochgeladenes Gebiet"
