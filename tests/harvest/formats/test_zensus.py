"""Zensus 2022 grid CSVs: ids, flags, encodings, broken archives, streaming memory and speed."""

from __future__ import annotations

import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely
from pyproj import Transformer

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.formats.zensus import (
    GridFile,
    cell_polygons,
    cells_to_25832,
    indicator_name,
    list_grid_files,
    parse_cell_id,
    read_grid_batches,
)

HEADER_100M = "GITTER_ID_100m;x_mp_100m;y_mp_100m;{value};werterlaeuternde_Zeichen"
HEADER_1KM = "GITTER_ID_1km;x_mp_1km;y_mp_1km;{value};werterlaeuternde_Zeichen"
ROWS_100M = [
    "CRS3035RES100mN2689100E4337000;4337050;2689150;43,2;",
    "CRS3035RES100mN2689100E4337100;4337150;2689150;–;",
    "CRS3035RES100mN2689100E4337200;4337250;2689150;51,7;KLAMMERN",
    "CRS3035RES100mN2689200E4337000;4337050;2689250;-;",
    "CRS3035RES100mN2689200E4337100;4337150;2689250;38;",
]
ROWS_1KM = [
    "CRS3035RES1000mN2689000E4337000;4337500;2689500;44,1;",
    "CRS3035RES1000mN2690000E4337000;4337500;2690500;–;",
]


def _csv(header: str, rows: list[str], value: str = "Durchschnittsalter") -> str:
    return "\r\n".join([header.format(value=value), *rows]) + "\r\n"


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """Like Zensus2022_Durchschnittsalter_in_Gitterzellen.zip: 100 m with BOM, 1 km without."""
    return _zip(
        tmp_path / "Zensus2022_Durchschnittsalter_in_Gitterzellen.zip",
        {
            "Zensus2022_Durchschnittsalter_100m-Gitter.csv": (
                "\ufeff" + _csv(HEADER_100M, ROWS_100M)
            ).encode("utf-8"),
            "Zensus2022_Durchschnittsalter_1km-Gitter.csv": _csv(HEADER_1KM, ROWS_1KM).encode(),
            "Datensatzbeschreibung.pdf": b"%PDF-1.4",
        },
    )


def _texts(column: pd.Series) -> list[str | None]:
    """Text column values with None for NA (pandas 3 str columns hold NaN)."""
    return column.to_numpy(dtype=object, na_value=None).tolist()


def _all(path: Path, **kwargs: object) -> list:
    return list(read_grid_batches(path, **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cell_id", "expected"),
    [
        ("CRS3035RES100mN2689100E4337000", (100, 4337000.0, 2689100.0)),
        ("CRS3035RES1000mN2689000E4337000", (1000, 4337000.0, 2689000.0)),
        ("CRS3035RES1kmN2689000E4337000", (1000, 4337000.0, 2689000.0)),
        ("CRS3035RES10000mN2680000E4330000", (10000, 4330000.0, 2680000.0)),
        (" CRS3035RES10kmN2680000E4330000 ", (10000, 4330000.0, 2680000.0)),
    ],
)
def test_parse_cell_id(cell_id: str, expected: tuple[int, float, float]) -> None:
    assert parse_cell_id(cell_id) == expected


@pytest.mark.parametrize("cell_id", ["", "CRS3035RES100mN2689100", "CRS4326RES100mN1E2", "abc"])
def test_parse_cell_id_rejects_malformed(cell_id: str) -> None:
    with pytest.raises(ValueError, match=r"Gitter-ID .* nicht lesbar"):
        parse_cell_id(cell_id)


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("Einwohner", "einwohner"),
        ("Durchschnittsalter", "durchschnittsalter"),
        ("Leerstandsquote", "leerstandsquote"),
        ("MarktaktiveLeerstandsquote", "marktaktive_leerstandsquote"),
        ("durchschnMieteQM", "durchschnittliche_nettokaltmiete"),
        ("AnteilUnter18", "anteil_unter_18"),
        ("AnteilUeber65", "anteil_ab_65"),
        ("WohnflächeJeEinwohner", "wohnflaeche_je_einwohner"),
        ("a10bis29", "a_10_bis_29"),
    ],
)
def test_indicator_names(column: str, expected: str) -> None:
    assert indicator_name(column) == expected


def test_list_grid_files(archive: Path) -> None:
    assert list_grid_files(archive) == [
        GridFile(
            "Zensus2022_Durchschnittsalter_100m-Gitter.csv",
            100,
            "Durchschnittsalter",
            ("Durchschnittsalter",),
        ),
        GridFile(
            "Zensus2022_Durchschnittsalter_1km-Gitter.csv",
            1000,
            "Durchschnittsalter",
            ("Durchschnittsalter",),
        ),
    ]


def test_values_flags_and_corners(archive: Path) -> None:
    (frame,) = _all(archive, resolution_m=100)
    assert list(frame.columns) == [
        "cell_id",
        "resolution_m",
        "x_ll",
        "y_ll",
        "indicator",
        "indicator_source",
        "value",
        "flag",
        "row_number",
        "reject_reason",
    ]
    assert frame.attrs == {
        "outside_extent": 0,
        "member": "Zensus2022_Durchschnittsalter_100m-Gitter.csv",
    }
    assert frame["cell_id"].iloc[0] == "CRS3035RES100mN2689100E4337000"
    assert frame["resolution_m"].tolist() == [100] * 5
    assert frame["x_ll"].tolist() == [4337000, 4337100, 4337200, 4337000, 4337100]
    assert frame["y_ll"].tolist() == [2689100, 2689100, 2689100, 2689200, 2689200]
    assert set(frame["indicator"]) == {"durchschnittsalter"}
    assert set(frame["indicator_source"]) == {"Durchschnittsalter"}
    values = frame["value"].tolist()
    assert values[0] == 43.2 and values[2] == 51.7 and values[4] == 38.0
    assert np.isnan(values[1]) and np.isnan(values[3])
    assert _texts(frame["flag"]) == [None, "–", "KLAMMERN", "–", None]
    assert frame["row_number"].tolist() == [2, 3, 4, 5, 6]
    assert frame["reject_reason"].isna().all()
    assert str(frame["flag"].dtype) == str(frame["reject_reason"].dtype) == "str"


def test_one_kilometre_grid_by_member(archive: Path) -> None:
    (frame,) = _all(archive, member="Zensus2022_Durchschnittsalter_1km-Gitter.csv")
    assert frame["resolution_m"].tolist() == [1000, 1000]
    assert frame["x_ll"].tolist() == [4337000, 4337000]
    assert frame["y_ll"].tolist() == [2689000, 2690000]
    assert frame["value"].iloc[0] == 44.1
    assert _texts(frame["flag"]) == [None, "–"]


def test_all_members_in_turn(archive: Path) -> None:
    frames = _all(archive)
    assert [f.attrs["member"] for f in frames] == [
        "Zensus2022_Durchschnittsalter_100m-Gitter.csv",
        "Zensus2022_Durchschnittsalter_1km-Gitter.csv",
    ]


def test_latin1_bare_csv(tmp_path: Path) -> None:
    """A Windows export: cp1252 en dash, umlaut in the value column, no ZIP."""
    path = tmp_path / "Wohnflaeche_100m-Gitter.csv"
    rows = [
        "CRS3035RES100mN2689100E4337000;4337050;2689150;41,5;",
        "CRS3035RES100mN2689100E4337100;4337150;2689150;–;",
    ]
    path.write_bytes(_csv(HEADER_100M, rows, value="WohnflächeJeEinwohner").encode("cp1252"))
    (grid_file,) = list_grid_files(path)
    assert grid_file == GridFile(
        path.name, 100, "WohnflächeJeEinwohner", ("WohnflächeJeEinwohner",)
    )
    (frame,) = _all(path)
    assert frame["indicator"].tolist() == ["wohnflaeche_je_einwohner"] * 2
    assert frame["value"].iloc[0] == 41.5
    assert _texts(frame["flag"]) == [None, "–"]


def test_unusable_rows_are_kept_with_reasons(tmp_path: Path) -> None:
    rows = [
        "CRS3035RES100mN26891;4337050;2689150;12;",  # malformed id, centre usable
        ";4337150;2689150;13;",  # no id, centre usable
        "kaputt;;;14;",  # neither
        "CRS3035RES100mN2689100E4337300;4337350;2689150;abc;",
        "",  # an empty line is no record but counts as a line
        "CRS3035RES100mN2689100E4337400;4337450;2689150;;",  # value missing, no flag
        "CRS3035RES100mN2689100E4337500;4337550;2689150;7;KLAMMERN;zuviel",
        "CRS3035RES100mN2689100E4337600;4337650;2689150;8",  # trailing field left out
        "CRS3035RES100mN2689100E4337700;4337750;2689150;9;",
    ]
    path = _zip(
        tmp_path / "Zensus2022_Bevoelkerungszahl.zip",
        {
            "Zensus2022_Bevoelkerungszahl_100m-Gitter.csv": _csv(
                HEADER_100M, rows, "Einwohner"
            ).encode()
        },
    )
    (frame,) = _all(path)
    by_line = frame.set_index("row_number")
    assert list(by_line.index) == [2, 3, 4, 5, 7, 8, 9, 10]
    assert by_line.loc[2, "cell_id"] == "CRS3035RES100mN2689100E4337000"
    assert (by_line.loc[2, "x_ll"], by_line.loc[2, "y_ll"]) == (4337000, 2689100)
    assert by_line.loc[3, "cell_id"] == "CRS3035RES100mN2689100E4337100"
    assert by_line.loc[2:3, "reject_reason"].isna().all()
    assert by_line.loc[4, "reject_reason"] == "Gitter-ID 'kaputt' und Mittelpunkt nicht lesbar"
    assert by_line.loc[4, "value"] == 14
    assert by_line.loc[5, "reject_reason"] == "Wert 'abc' ist keine Zahl"
    assert by_line.loc[7, "reject_reason"] == "Wert fehlt"
    assert by_line.loc[8, "reject_reason"] == "Zeile hat 6 statt 5 Felder"
    assert by_line.loc[9, "value"] == 8 and pd.isna(by_line.loc[9, "reject_reason"])
    assert by_line.loc[10, "value"] == 9
    assert frame[frame["indicator"] == "einwohner"].shape[0] == 8


def test_batches_and_extent(tmp_path: Path) -> None:
    rows = [
        f"CRS3035RES100mN{2689100 + 100 * (i // 4)}E{4337000 + 100 * (i % 4)};0;0;{i};"
        for i in range(10)
    ]
    path = tmp_path / "Einwohner_100m-Gitter.csv"
    path.write_text(_csv(HEADER_100M, rows, "Einwohner"), encoding="utf-8")
    frames = _all(path, batch_size=4)
    assert [len(f) for f in frames] == [4, 4, 2]
    assert [n for f in frames for n in f["row_number"]] == list(range(2, 12))

    # keep x in [4337100, 4337300) and y in [2689100, 2689200): values 1 and 2
    extent = (4337100.0, 2689100.0, 4337300.0, 2689200.0)
    frames = _all(path, batch_size=4, extent_3035=extent)
    assert [f["value"].tolist() for f in frames] == [[1.0, 2.0], [], []]
    assert [f.attrs["outside_extent"] for f in frames] == [2, 4, 2]


def test_several_value_columns_become_rows(tmp_path: Path) -> None:
    path = tmp_path / "Zensus2022_Alter_in_5_Altersklassen_100m-Gitter.csv"
    path.write_text(
        "GITTER_ID_100m;x_mp_100m;y_mp_100m;Unter10;a10bis29;werterlaeuternde_Zeichen\n"
        "CRS3035RES100mN2689100E4337000;4337050;2689150;4;–;\n",
        encoding="utf-8",
    )
    (grid_file,) = list_grid_files(path)
    assert grid_file.value_columns == ("Unter10", "a10bis29")
    (frame,) = _all(path)
    assert frame["indicator"].tolist() == ["unter_10", "a_10_bis_29"]
    assert frame["value"].iloc[0] == 4 and np.isnan(frame["value"].iloc[1])
    assert _texts(frame["flag"]) == [None, "–"]
    assert frame["row_number"].tolist() == [2, 2]


def test_truncated_zip(archive: Path, tmp_path: Path) -> None:
    broken = tmp_path / "Zensus2022_Bevoelkerungszahl.zip"
    data = archive.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceFormatError, match=r"Zensus2022_Bevoelkerungszahl.zip ist beschädigt"):
        list_grid_files(broken)
    with pytest.raises(SourceFormatError, match="ist beschädigt"):
        _all(broken)


def test_corrupt_member_data(tmp_path: Path) -> None:
    body = _csv(HEADER_100M, ROWS_100M * 2000, "Einwohner").encode()
    path = _zip(tmp_path / "g.zip", {"Einwohner_100m-Gitter.csv": body}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the stored member: only the CRC notices
    path.write_bytes(bytes(data))
    with pytest.raises(SourceFormatError, match=r"g.zip/Einwohner_100m-Gitter.csv ist beschädigt"):
        _all(path)


def test_missing_id_column(tmp_path: Path) -> None:
    path = tmp_path / "Zensus2022_Bevoelkerungszahl_100m-Gitter.csv"
    path.write_text("id;Einwohner\n1;2\n", encoding="utf-8")
    with pytest.raises(
        SourceFormatError, match=r"Spalte GITTER_ID_100m fehlt.*vorhanden sind: id, Einwohner"
    ):
        _all(path)


def test_one_column_header_means_wrong_delimiter(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "z.zip",
        {"Einwohner_100m-Gitter.csv": _csv(HEADER_100M, ROWS_100M).replace(";", " ").encode()},
    )
    with pytest.raises(SourceFormatError, match=r"z.zip/Einwohner_100m-Gitter.csv: .*nur eine"):
        list_grid_files(path)


def test_comma_separated_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "Einwohner_100m-Gitter.csv"
    path.write_text(
        "GITTER_ID_100m,x_mp_100m,y_mp_100m,Einwohner,werterlaeuternde_Zeichen\n"
        "CRS3035RES100mN2689100E4337000,4337050,2689150,12,\n",
        encoding="utf-8",
    )
    (frame,) = _all(path)
    assert frame["value"].tolist() == [12.0]


def test_no_csv_in_zip(tmp_path: Path) -> None:
    path = _zip(tmp_path / "leer.zip", {"liesmich.txt": b"x"})
    with pytest.raises(SourceFormatError, match=r"keine CSV-Datei; vorhanden sind: liesmich\.txt"):
        list_grid_files(path)


def test_unknown_member_and_resolution(archive: Path) -> None:
    with pytest.raises(SourceFormatError, match="nicht im Archiv"):
        _all(archive, member="fehlt.csv")
    with pytest.raises(SourceFormatError, match=r"kein Gitter mit 10000 m.*100 m, 1000 m"):
        _all(archive, resolution_m=10_000)


def test_mixed_encoding_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "Einwohner_100m-Gitter.csv"
    good = _csv(HEADER_100M, ROWS_100M * 20_000, "Einwohner").encode()
    path.write_bytes(good + "CRS3035RES100mN1E1;1;1;1;Straße\n".encode("cp1252"))
    with pytest.raises(SourceFormatError, match="Zeile 100002 ist nicht UTF-8"):
        _all(path)


def test_cell_polygons() -> None:
    cells = cell_polygons(np.array([4337000.0, 4337100.0]), np.array([2689100.0, 2689100.0]), 100)
    assert shapely.area(cells).tolist() == [10_000.0, 10_000.0]
    assert cells[1].bounds == (4337100.0, 2689100.0, 4337200.0, 2689200.0)


def test_cells_to_25832() -> None:
    x, y, size = np.array([4430000.0, 4500000.0]), np.array([3200000.0, 3300000.0]), 1000.0
    cells = cells_to_25832(x, y, size)
    assert shapely.is_valid(cells).all()
    # LAEA is equal-area and UTM nearly so: the area hardly changes
    assert np.allclose(shapely.area(cells), 1_000_000, rtol=0.002)
    east, north = Transformer.from_crs(3035, 25832, always_xy=True).transform(x, y)
    corners = shapely.get_coordinates(cells).reshape(2, 5, 2)
    assert np.allclose(corners[:, 0, 0], east) and np.allclose(corners[:, 0, 1], north)
    assert 600_000 < east[0] < 800_000 and 5_600_000 < north[0] < 5_900_000


def _big_zip(path: Path, rows: int) -> Path:
    """A generated Germany-like 100 m population grid with suppressed values and flags."""
    side = 2000
    i = np.arange(rows)
    east = 4_000_000 + (i % side) * 100
    north = 2_700_000 + (i // side) * 100
    values = (i % 97).astype(str).astype(object)
    values[i % 10 == 3] = "–"
    flags = np.where(i % 20 == 7, "KLAMMERN", "")
    lines = [
        f"CRS3035RES100mN{n}E{e};{e + 50};{n + 50};{v};{f}"
        for e, n, v, f in zip(east, north, values, flags, strict=True)
    ]
    return _zip(
        path,
        {
            "Zensus2022_Bevoelkerungszahl_100m-Gitter.csv": _csv(
                HEADER_100M, lines, "Einwohner"
            ).encode()
        },
    )


def _peak_while_reading(path: Path) -> tuple[int, int, int]:
    """Rows read, peak traced Python memory and largest Arrow allocation seen between batches."""
    rows, arrow_peak = 0, 0
    tracemalloc.start()
    try:
        for frame in read_grid_batches(path, batch_size=20_000):
            rows += len(frame)
            arrow_peak = max(arrow_peak, pa.total_allocated_bytes())
            del frame
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return rows, peak, arrow_peak


def test_memory_stays_flat(tmp_path: Path) -> None:
    small = _big_zip(tmp_path / "small.zip", 30_000)
    large = _big_zip(tmp_path / "large.zip", 300_000)
    rows_small, peak_small, arrow_small = _peak_while_reading(small)
    rows_large, peak_large, arrow_large = _peak_while_reading(large)
    assert (rows_small, rows_large) == (30_000, 300_000)
    print(
        f"\npeak traced memory: {peak_small / 1e6:.1f} MB for 30k rows, "
        f"{peak_large / 1e6:.1f} MB for 300k rows; Arrow {arrow_small / 1e6:.1f} / "
        f"{arrow_large / 1e6:.1f} MB"
    )
    assert peak_large < 2.5 * peak_small
    assert arrow_large < 2.5 * max(arrow_small, 1)


def test_rows_per_second(tmp_path: Path) -> None:
    path = _big_zip(tmp_path / "Zensus2022_Bevoelkerungszahl.zip", 300_000)
    start = time.perf_counter()
    rows = sum(len(frame) for frame in read_grid_batches(path))
    elapsed = time.perf_counter() - start
    print(f"\nZensus grid: {rows} rows in {elapsed:.2f} s = {rows / elapsed:,.0f} rows/s")
    assert rows == 300_000
    assert rows / elapsed > 20_000  # loose: shared CI machines vary a lot
