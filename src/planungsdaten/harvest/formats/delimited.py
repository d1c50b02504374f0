"""CSV files with coordinates or WKT: encoding and delimiter detected, German numbers."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.targets import ROW_COLUMN

_CANDIDATE_ENCODINGS = ("utf-8-sig", "cp1252")
_SNIFF_BYTES = 64 * 1024


def detect_encoding(path: Path, declared: str | None = None) -> str:
    """The declared encoding, else UTF-8 (with or without BOM), else Windows-1252."""
    if declared:
        return declared
    with path.open("rb") as fh:
        head = fh.read(4 * _SNIFF_BYTES)
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        # a multi-byte character cut at the end of the sample is still UTF-8
        if e.start < len(head) - 4:
            return "cp1252"
    return "utf-8-sig"


def detect_delimiter(path: Path, encoding: str, declared: str | None = None) -> str:
    """The declared delimiter, else the one csv.Sniffer finds among ; , tab |."""
    if declared:
        return declared
    with path.open(encoding=encoding, errors="replace") as fh:
        sample = fh.read(_SNIFF_BYTES)
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error as e:
        raise SourceFormatError(
            f"{path.name}: Trennzeichen nicht erkennbar; 'delimiter' in der Quelldefinition angeben"
        ) from e


def _number(column: pd.Series, decimal: str) -> pd.Series:
    text = column.str.strip()
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".")
    return pd.to_numeric(text, errors="coerce")


def read_delimited(
    path: Path,
    *,
    x: str | None,
    y: str | None,
    wkt: str | None,
    encoding: str | None,
    delimiter: str | None,
    decimal: str,
    crs: str | None,
    batch_size: int,
) -> Iterator[gpd.GeoDataFrame]:
    """Batches with a geometry built from x/y or WKT; every other column as text."""
    if crs is None:
        raise SourceFormatError(
            f"{path.name}: CSV-Dateien nennen kein Koordinatenreferenzsystem; "
            "'crs' in der Quelldefinition angeben"
        )
    enc = detect_encoding(path, encoding)
    sep = detect_delimiter(path, enc, delimiter)
    geometry_columns = [c for c in (x, y, wkt) if c]
    try:
        chunks = pd.read_csv(
            path,
            sep=sep,
            encoding=enc,
            dtype=str,
            keep_default_na=False,
            chunksize=batch_size,
        )
        for chunk in chunks:
            absent = [c for c in geometry_columns if c not in chunk.columns]
            if absent:
                raise SourceFormatError(
                    f"{path.name}: Spalte(n) {', '.join(absent)} fehlen; vorhanden sind: "
                    f"{', '.join(chunk.columns)}"
                )
            if wkt:
                geometry = shapely.from_wkt(
                    chunk[wkt].replace("", None).to_numpy(), on_invalid="ignore"
                )
            else:
                xs, ys = _number(chunk[x or ""], decimal), _number(chunk[y or ""], decimal)
                geometry = shapely.points(xs.to_numpy(), ys.to_numpy())
                geometry[xs.isna().to_numpy() | ys.isna().to_numpy()] = None
            attributes = chunk.replace("", None)
            # the line in the file: the header is line 1 (one record per line)
            attributes[ROW_COLUMN] = chunk.index.to_numpy() + 2
            yield gpd.GeoDataFrame(attributes, geometry=geometry, crs=crs)
    except (UnicodeDecodeError, pd.errors.ParserError) as e:
        raise SourceFormatError(f"{path.name}: CSV nicht lesbar ({enc}, '{sep}'): {e}") from e
