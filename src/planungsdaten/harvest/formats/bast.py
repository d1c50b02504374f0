"""BASt automatic count stations (Dauerzählstellen): annual results ``Jawe<year>.csv``.

The file has one row per station and about 250 columns; this reader keeps the station, the road
and the DTV (durchschnittliche tägliche Verkehrsstärke, Mo–So, whole cross-section) of all
vehicles and heavy vehicles (Schwerverkehr), as points in EPSG:25832.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import Transformer

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.formats.delimited import _number, detect_delimiter, detect_encoding

# output column → Jawe column; the first two are required, like one pair of coordinates
_FIELDS = {
    "station_id": "DZ_Nr",
    "dtv_kfz": "DTV_Kfz_MobisSo_Q",
    "name": "DZ_Name",
    "land_code": "Land_Code",
    "road_class": "Str_Kl",
    "road_number": "Str_Nr",
    "dtv_sv": "DTV_SV_MobisSo_Q",
    "sv_share_pct": "pSV_MobisSo_Q",
    "utm_e": "Koor_UTM32_E",
    "utm_n": "Koor_UTM32_N",
    "wgs_lat": "Koor_WGS84_N",
    "wgs_lon": "Koor_WGS84_E",
    "year": "Jahr",
}
_REQUIRED = ("station_id", "dtv_kfz")
_MISSING = ("", "NA", "N/A", "NaN", "nan", "-", "–", "k.A.")
_YEAR_IN_NAME = re.compile(r"jawe[_\-\s]?((?:19|20)\d\d)", re.IGNORECASE)
_ZONE_PREFIX = 32_000_000.0  # eastings written with the zone number in front: 32693400
# plausible for Germany, to catch swapped or zeroed coordinates
_UTM_BOX = (100_000.0, 5_000_000.0, 1_000_000.0, 6_200_000.0)
_WGS84_BOX = (5.0, 47.0, 16.0, 56.0)
COLUMNS = [
    "station_id",
    "name",
    "land_code",
    "road_class",
    "road_number",
    "road",
    "dtv_kfz",
    "dtv_sv",
    "sv_share_pct",
    "year",
    "row_number",
    "reject_reason",
]


def read_jawe(
    path: Path, *, year: int | None = None, batch_size: int = 50_000
) -> Iterator[gpd.GeoDataFrame]:
    """Batches of count stations with DTV as points in EPSG:25832; unusable rows carry a reason.

    The count year is ``year``, else taken from the file name (``Jawe2023.csv``), else from a
    ``Jahr`` column.
    """
    encoding = detect_encoding(path)
    delimiter = detect_delimiter(path, encoding)
    columns = _header(path, encoding, delimiter)
    found = _match_columns(path, columns)
    if year is None:
        match = _YEAR_IN_NAME.search(path.stem)
        if match:
            year = int(match[1])
        elif "year" not in found:
            raise SourceFormatError(
                f"{path.name}: Zähljahr weder im Dateinamen (Jawe<Jahr>.csv) noch in einer "
                "Spalte Jahr; 'year' in der Quelldefinition angeben"
            )
    try:
        with pd.read_csv(
            path,
            sep=delimiter,
            encoding=encoding,
            dtype=str,
            usecols=list(found.values()),
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,  # keeps row_number equal to the line
            chunksize=batch_size,
        ) as chunks:
            for chunk in chunks:
                text = pd.DataFrame(
                    {key: chunk[column].fillna("").str.strip() for key, column in found.items()}
                )
                rows = text.index.to_numpy() + 2
                blank = (text == "").all(axis=1).to_numpy()
                yield _frame(text[~blank], rows[~blank], year)
    except (UnicodeDecodeError, pd.errors.ParserError) as e:
        raise SourceFormatError(
            f"{path.name}: CSV nicht lesbar ({encoding}, '{delimiter}'): {e}"
        ) from e


def _header(path: Path, encoding: str, delimiter: str) -> list[str]:
    try:
        columns = list(pd.read_csv(path, sep=delimiter, encoding=encoding, nrows=0).columns)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise SourceFormatError(f"{path.name}: Kopfzeile nicht lesbar ({encoding}): {e}") from e
    if len(columns) < 2:
        raise SourceFormatError(
            f"{path.name}: Kopfzeile hat nur eine Spalte; erwartet werden durch ';' getrennte "
            "Spalten wie DZ_Nr;DZ_Name;…"
        )
    return [str(c) for c in columns]


def _match_columns(path: Path, columns: list[str]) -> dict[str, str]:
    """Output field → column of the file, matched without regard to case."""
    by_lower = {c.strip().lower(): c for c in columns}
    found = {
        key: by_lower[name.lower()] for key, name in _FIELDS.items() if name.lower() in by_lower
    }
    missing = [_FIELDS[key] for key in _REQUIRED if key not in found]
    has_utm = "utm_e" in found and "utm_n" in found
    has_wgs84 = "wgs_lat" in found and "wgs_lon" in found
    if not (has_utm or has_wgs84):
        missing += [_FIELDS["utm_e"], _FIELDS["utm_n"]]
    if missing:
        raise SourceFormatError(
            f"{path.name}: Spalte(n) {', '.join(missing)} fehlen; vorhanden sind: "
            f"{', '.join(columns)}"
        )
    return found


def _column(text: pd.DataFrame, key: str) -> pd.Series:
    return text[key] if key in text else pd.Series("", index=text.index, dtype="str")


def _numbers(
    text: pd.DataFrame, key: str, label: str, reasons: list[pd.Series]
) -> npt.NDArray[np.float64]:
    """German numbers of one column; an unreadable value adds a reason."""
    raw = _column(text, key)
    missing = raw.isin(_MISSING)
    values = _number(raw.where(~missing, ""), ",").to_numpy(dtype=float, na_value=np.nan)
    unreadable = ~missing & np.isnan(values)
    reasons.append(
        pd.Series(None, index=text.index, dtype=object).mask(
            unreadable, f"{label} '" + raw + "' ist keine Zahl"
        )
    )
    return values


def _text(values: pd.Series) -> pd.Series:
    """Text with NA for empty values."""
    return values.astype("str").replace("", None)


@lru_cache(maxsize=1)
def _wgs84_to_25832() -> Transformer:
    return Transformer.from_crs("EPSG:4326", "EPSG:25832", always_xy=True)


def _inside(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], box: tuple[float, ...]
) -> npt.NDArray[np.bool_]:
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def _frame(text: pd.DataFrame, rows: npt.NDArray[np.int64], year: int | None) -> gpd.GeoDataFrame:
    """One batch: parsed numbers, road, year, points and the reasons a row cannot be used."""
    text = text.reset_index(drop=True)
    reasons: list[pd.Series] = []
    station = _column(text, "station_id")
    reasons.append(
        pd.Series(None, index=text.index, dtype=object).mask(
            station == "", "Zählstellennummer (DZ_Nr) fehlt"
        )
    )
    kfz = _numbers(text, "dtv_kfz", "DTV Kfz", reasons)
    sv = _numbers(text, "dtv_sv", "DTV SV", reasons)
    share = _numbers(text, "sv_share_pct", "SV-Anteil", reasons)
    with np.errstate(divide="ignore", invalid="ignore"):
        computed = np.where(kfz > 0, sv / kfz * 100, np.nan)
    share = np.where(np.isnan(share), computed, share)

    # one pair of coordinates suffices: a bad value in the other pair is no reason to reject
    east, north, lat, lon = (
        _numbers(text, key, key, []) for key in ("utm_e", "utm_n", "wgs_lat", "wgs_lon")
    )
    east = np.where((east > _ZONE_PREFIX) & (east < _ZONE_PREFIX + 1e6), east - _ZONE_PREFIX, east)
    from_utm = _inside(east, north, _UTM_BOX)
    from_wgs84 = ~from_utm & _inside(lon, lat, _WGS84_BOX)
    x, y = np.full(len(text), np.nan), np.full(len(text), np.nan)
    x[from_utm], y[from_utm] = east[from_utm], north[from_utm]
    if from_wgs84.any():
        x[from_wgs84], y[from_wgs84] = _wgs84_to_25832().transform(lon[from_wgs84], lat[from_wgs84])
    located = from_utm | from_wgs84
    given = np.zeros(len(text), dtype=bool)
    for key in ("utm_e", "utm_n", "wgs_lat", "wgs_lon"):
        given |= ~_column(text, key).isin(_MISSING).to_numpy()
    shown = (
        "Koordinaten nicht lesbar oder außerhalb Deutschlands: UTM32 '"
        + _column(text, "utm_e")
        + "' '"
        + _column(text, "utm_n")
        + "', WGS84 '"
        + _column(text, "wgs_lat")
        + "' '"
        + _column(text, "wgs_lon")
        + "'"
    )
    reasons.append(
        pd.Series(None, index=text.index, dtype=object)
        .mask(~given, "Koordinaten fehlen")
        .mask(given & ~located, shown)
    )
    geometry = shapely.points(x, y)
    geometry[~located] = None

    if year is None:
        years = pd.to_numeric(_column(text, "year"), errors="coerce").astype("Int64")
        reasons.append(
            pd.Series(None, index=text.index, dtype=object).mask(
                years.isna(), "Jahr '" + _column(text, "year") + "' nicht lesbar"
            )
        )
    else:
        years = pd.Series(year, index=text.index, dtype="Int64")

    road_class = _column(text, "road_class")
    road_number = _column(text, "road_number").str.replace(r"^0+(\d)", r"\1", regex=True)
    road = (road_class + " " + road_number).where((road_class != "") & (road_number != ""), "")
    # a few thousand stations a year: joining in Python is cheap
    reason = [
        "; ".join(part for part in parts if isinstance(part, str)) or None
        for parts in zip(*(r.to_numpy(dtype=object) for r in reasons), strict=True)
    ]
    data = {
        "station_id": _text(station),
        "name": _text(_column(text, "name")),
        "land_code": _text(_column(text, "land_code")),
        "road_class": _text(road_class),
        "road_number": _text(road_number),
        "road": _text(road),
        "dtv_kfz": kfz,
        "dtv_sv": sv,
        "sv_share_pct": share,
        "year": years,
        "row_number": rows,
        "reject_reason": pd.Series(reason, dtype="str"),
    }
    return gpd.GeoDataFrame(
        pd.DataFrame(data, columns=COLUMNS), geometry=geometry, crs="EPSG:25832"
    )
