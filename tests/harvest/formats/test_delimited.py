"""CSV sources: encodings, delimiters, German decimals, WKT."""

from __future__ import annotations

from pathlib import Path

import pytest

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.formats.delimited import (
    detect_delimiter,
    detect_encoding,
    read_delimited,
)


def _write(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8-sig"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252")],
)
def test_encoding_detected(tmp_path: Path, encoding: str, expected: str) -> None:
    path = _write(tmp_path / "a.csv", "Straße;Nr\nMühlweg;3\n", encoding)
    assert detect_encoding(path) == expected
    assert path.read_text(encoding=detect_encoding(path)).startswith("Straße;Nr")


def test_coordinates_with_decimal_comma(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "zaehlstellen.csv",
        "Nr;Name;Rechtswert;Hochwert\n1;Markt;693.900,5;5.688.200,25\n2;ohne Lage;;\n",
        "cp1252",
    )
    assert detect_delimiter(path, "cp1252") == ";"
    (frame,) = read_delimited(
        path,
        x="Rechtswert",
        y="Hochwert",
        wkt=None,
        encoding=None,
        delimiter=None,
        decimal=",",
        crs="EPSG:25832",
        batch_size=100,
    )
    assert frame.crs.to_epsg() == 25832
    assert (frame.geometry.iloc[0].x, frame.geometry.iloc[0].y) == (693900.5, 5688200.25)
    assert frame.geometry.iloc[1] is None
    assert frame["Name"].tolist() == ["Markt", "ohne Lage"]


def test_wkt_column_and_batches(tmp_path: Path) -> None:
    rows = "\n".join(f'{i},"POINT ({693000 + i} 5688000)"' for i in range(25))
    path = _write(tmp_path / "wkt.csv", "id,wkt\n" + rows + '\n99,"kaputt"\n', "utf-8")
    frames = list(
        read_delimited(
            path,
            x=None,
            y=None,
            wkt="wkt",
            encoding=None,
            delimiter=None,
            decimal=".",
            crs="EPSG:25832",
            batch_size=10,
        )
    )
    assert [len(f) for f in frames] == [10, 10, 6]
    assert frames[0].geometry.iloc[3].x == 693003
    assert frames[-1].geometry.iloc[-1] is None  # unreadable WKT: rejected later with a reason


def test_missing_column_and_missing_crs(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", "a;b\n1;2\n", "utf-8")
    with pytest.raises(SourceFormatError, match="Spalte\\(n\\) x fehlen"):
        list(
            read_delimited(
                path,
                x="x",
                y="b",
                wkt=None,
                encoding=None,
                delimiter=None,
                decimal=".",
                crs="EPSG:25832",
                batch_size=10,
            )
        )
    with pytest.raises(SourceFormatError, match="'crs' in der Quelldefinition"):
        list(
            read_delimited(
                path,
                x="a",
                y="b",
                wkt=None,
                encoding=None,
                delimiter=None,
                decimal=".",
                crs=None,
                batch_size=10,
            )
        )
