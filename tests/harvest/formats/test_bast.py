"""BASt annual results (Jawe<year>.csv): Latin-1, ~250 columns, NA, decimal comma, coordinates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from pyproj import Transformer

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.formats.bast import read_jawe

KEYS = [
    "DZ_Nr",
    "DZ_Name",
    "Land_Code",
    "Str_Kl",
    "Str_Nr",
    "DTV_Kfz_MobisSo_Q",
    "DTV_SV_MobisSo_Q",
    "pSV_MobisSo_Q",
    "Koor_UTM32_E",
    "Koor_UTM32_N",
    "Koor_WGS84_N",
    "Koor_WGS84_E",
]
# name, class, number, kfz, sv, psv, utm e, utm n, lat, lon
STATIONS: list[tuple[str, ...]] = [
    ("4501", "Lützen", "A", "9", "52310", "11210,5", "21,4", "690123,4", "5679876,5", "NA", "NA"),
    ("4502", "Weißenfels", "B", "091", "9120,0", "1040", "NA", "NA", "NA", "51,2012", "11,9687"),
    ("4503", "Großkorbetha", "A", "38", "33980", "5730", "16,9", "32700000", "5685000", "NA", "NA"),
    ("4504", "Bad Dürrenberg", "B", "91", "7000", "NA", "NA", "NA", "NA", "NA", "NA"),
    ("4505", "Leuna", "B", "181", "abc", "610", "NA", "705000", "5688000", "", ""),
    ("", "ohne Nummer", "B", "87", "5000", "400", "8,0", "702000", "5681000", "NA", "NA"),
    ("4507", "Merseburg", "B", "181", "5000", "400", "8,0", "0", "0", "11,99", "51,35"),
]


def _jawe(
    path: Path,
    stations: Sequence[tuple[str, ...]] = STATIONS,
    keys: list[str] = KEYS,
    blank_line_after: int | None = None,
    encoding: str = "latin-1",
) -> Path:
    """A Jawe file: the key fields spread among ~240 filler columns, as BASt publishes it."""
    filler = [f"Wert_{i:03d}" for i in range(238)]
    header = ["TKNR", *filler[:100], *keys[:6], *filler[100:200], *keys[6:], *filler[200:]]
    lines = [";".join(header)]
    for i, station in enumerate(stations):
        values = dict(zip(keys, (*station[:2], "ST", *station[2:]), strict=True))
        cells = {name: "NA" for name in filler} | {"TKNR": f"{station[0]}0"} | values
        lines.append(";".join(cells.get(name, "NA") for name in header))
        if blank_line_after == i:
            lines.append("")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def _read(path: Path, **kwargs: object) -> gpd.GeoDataFrame:
    frames = list(read_jawe(path, **kwargs))  # type: ignore[arg-type]
    return pd.concat(frames, ignore_index=True)


def test_header_has_about_250_columns(tmp_path: Path) -> None:
    path = _jawe(tmp_path / "Jawe2023.csv")
    header = path.read_bytes().decode("latin-1").splitlines()[0]
    assert len(header.split(";")) == 251
    assert "Lützen".encode("latin-1") in path.read_bytes()


def test_stations(tmp_path: Path) -> None:
    frame = _read(_jawe(tmp_path / "Jawe2023.csv"))
    assert isinstance(frame, gpd.GeoDataFrame) and frame.crs.to_epsg() == 25832
    assert list(frame.columns) == [
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
        "geometry",
    ]
    first = frame.iloc[0]
    assert first["station_id"] == "4501" and first["name"] == "Lützen"
    assert first["land_code"] == "ST" and first["road"] == "A 9"
    assert (first["dtv_kfz"], first["dtv_sv"], first["sv_share_pct"]) == (52310.0, 11210.5, 21.4)
    assert (first.geometry.x, first.geometry.y) == (690123.4, 5679876.5)
    assert frame["year"].tolist() == [2023] * 7
    assert frame["row_number"].tolist() == [2, 3, 4, 5, 6, 7, 8]
    assert frame["name"].iloc[1] == "Weißenfels"


def test_wgs84_fallback_and_computed_share(tmp_path: Path) -> None:
    frame = _read(_jawe(tmp_path / "Jawe2023.csv"))
    weissenfels = frame.iloc[1]
    assert weissenfels["road_number"] == "91" and weissenfels["road"] == "B 91"
    east, north = Transformer.from_crs(4326, 25832, always_xy=True).transform(11.9687, 51.2012)
    assert weissenfels.geometry.x == pytest.approx(east)
    assert weissenfels.geometry.y == pytest.approx(north)
    assert pd.isna(weissenfels["reject_reason"])
    assert weissenfels["sv_share_pct"] == pytest.approx(1040 / 9120 * 100)


def test_zone_prefix_in_easting(tmp_path: Path) -> None:
    frame = _read(_jawe(tmp_path / "Jawe2023.csv"))
    assert (frame.geometry.iloc[2].x, frame.geometry.iloc[2].y) == (700000.0, 5685000.0)


def test_reject_reasons(tmp_path: Path) -> None:
    frame = _read(_jawe(tmp_path / "Jawe2023.csv"))
    reasons = frame.set_index("row_number")["reject_reason"]
    assert reasons[[2, 3, 4]].isna().all()
    assert reasons[5] == "Koordinaten fehlen"
    assert frame.geometry.iloc[3] is None
    assert reasons[6] == "DTV Kfz 'abc' ist keine Zahl"
    assert math.isnan(frame["dtv_kfz"].iloc[4])
    assert reasons[7] == "Zählstellennummer (DZ_Nr) fehlt"
    assert pd.isna(frame["station_id"].iloc[5])
    # zeroed UTM and swapped WGS84: no usable location, the values are shown
    assert reasons[8] == (
        "Koordinaten nicht lesbar oder außerhalb Deutschlands: UTM32 '0' '0', WGS84 '11,99' '51,35'"
    )
    assert frame.geometry.iloc[6] is None


def test_batches_keep_line_numbers(tmp_path: Path) -> None:
    path = _jawe(tmp_path / "Jawe2023.csv", blank_line_after=1)
    frames = list(read_jawe(path, batch_size=2))
    assert [len(f) for f in frames] == [2, 1, 2, 2]  # the blank line is no station
    rows = [n for f in frames for n in f["row_number"]]
    assert rows == [2, 3, 5, 6, 7, 8, 9]


def test_year_from_argument_and_column(tmp_path: Path) -> None:
    path = _jawe(tmp_path / "Dauerzaehlstellen.csv")
    assert set(_read(path, year=2021)["year"]) == {2021}
    with pytest.raises(SourceFormatError, match="Zähljahr"):
        list(read_jawe(path))
    with_year = _jawe(
        tmp_path / "zaehlstellen.csv",
        [(*s, "2022") for s in STATIONS[:2]],
        [*KEYS, "Jahr"],
    )
    assert _read(with_year)["year"].tolist() == [2022, 2022]
    named = _jawe(tmp_path / "Jawe2020.csv", [(*s, "2022") for s in STATIONS[:1]], [*KEYS, "Jahr"])
    assert _read(named)["year"].tolist() == [2020]  # the file name wins over the column


def test_without_psv_column(tmp_path: Path) -> None:
    keys = [k for k in KEYS if k != "pSV_MobisSo_Q"]
    stations = [s[:6] + s[7:] for s in STATIONS[:1]]
    frame = _read(_jawe(tmp_path / "Jawe2022.csv", stations, keys))
    assert frame["sv_share_pct"].iloc[0] == pytest.approx(11210.5 / 52310 * 100)
    assert frame["year"].iloc[0] == 2022


def test_utf8_file(tmp_path: Path) -> None:
    frame = _read(_jawe(tmp_path / "Jawe2023.csv", encoding="utf-8"))
    assert frame["name"].iloc[1] == "Weißenfels"


def test_missing_required_column(tmp_path: Path) -> None:
    keys = [k for k in KEYS if k != "DTV_Kfz_MobisSo_Q"]
    stations = [s[:4] + s[5:] for s in STATIONS]
    path = _jawe(tmp_path / "Jawe2023.csv", stations, keys)
    with pytest.raises(
        SourceFormatError,
        match=r"Jawe2023\.csv: Spalte\(n\) DTV_Kfz_MobisSo_Q fehlen; vorhanden sind: TKNR, ",
    ):
        list(read_jawe(path))


def test_missing_coordinates_columns(tmp_path: Path) -> None:
    keys = KEYS[:8]
    path = _jawe(tmp_path / "Jawe2023.csv", [s[:7] for s in STATIONS], keys)
    with pytest.raises(SourceFormatError, match="Koor_UTM32_E, Koor_UTM32_N fehlen"):
        list(read_jawe(path))
