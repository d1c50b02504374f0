"""Zensus 2022 grid cells (destatis Gitterzellen): streaming reader for the CSVs, zipped or bare.

A grid CSV holds one row per cell: ``GITTER_ID_100m;x_mp_100m;y_mp_100m;<Merkmal>;
werterlaeuternde_Zeichen``. The id (``CRS3035RES100mN2689100E4337000``) names the resolution and
the lower-left corner in EPSG:3035; ``x_mp``/``y_mp`` are the cell centres.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import shapely
from pyproj import Transformer

from planungsdaten.harvest.errors import SourceFormatError
from planungsdaten.harvest.formats.delimited import detect_delimiter, detect_encoding

SUPPRESSED = "–"
"""Flag of a suppressed value (Geheimhaltung); its value is missing."""

_ID_PATTERN = r"^CRS3035RES(?P<size>\d+)(?P<unit>km|m)N(?P<north>\d+)E(?P<east>\d+)$"
_ID_RE = re.compile(_ID_PATTERN)
_COLUMN_RESOLUTION_RE = re.compile(r"^(?:GITTER_ID|[xy]_mp)_(\d+)(km|m)$", re.IGNORECASE)
_NAME_RESOLUTION_RE = re.compile(r"(?:^|[_\-\s])(\d+)\s*(km|m)(?=[_\-\s.]|gitter|$)", re.IGNORECASE)
_NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)$"
# the signs of German official statistics that stand instead of a number
_MARKERS = {"–": SUPPRESSED, "-": SUPPRESSED, "—": SUPPRESSED, ".": ".", "/": "/", "x": "x"}
# value columns of the published grids, keyed by their lower-case name
_INDICATORS = {
    "einwohner": "einwohner",
    "durchschnittsalter": "durchschnittsalter",
    "leerstandsquote": "leerstandsquote",
    "marktaktiveleerstandsquote": "marktaktive_leerstandsquote",
    "durchschnmieteqm": "durchschnittliche_nettokaltmiete",
    "anteilunter18": "anteil_unter_18",
    "anteilueber65": "anteil_ab_65",
}
_UMLAUTS = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"}
)
_LINE = "__line"
_SHAPE = "__shape"
_MAX_HEADER_BYTES = 1 << 20
_MAX_BLOCK_BYTES = 4 << 20  # read and parsed at a time: about 80,000 rows of a 100 m grid
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError)


@dataclass(frozen=True)
class GridFile:
    """One grid CSV: its ZIP member (or file name), resolution and value column."""

    member: str
    resolution_m: int
    indicator_column: str
    value_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Layout:
    """Where the columns of one grid CSV are and how it is encoded."""

    member: str
    label: str
    encoding: str
    delimiter: str
    columns: tuple[str, ...]
    id_column: int | None
    x_column: int | None
    y_column: int | None
    flag_column: int | None
    value_columns: tuple[int, ...]
    resolution_m: int


def indicator_name(column: str) -> str:
    """The snake_case German name of a value column: ``AnteilUnter18`` → ``anteil_unter_18``."""
    known = _INDICATORS.get(re.sub(r"[^0-9a-z]", "", column.lower()))
    if known:
        return known
    text = column.translate(_UMLAUTS)
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", "_", text)
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def parse_cell_id(cell_id: str) -> tuple[int, float, float]:
    """Resolution in metres and lower-left corner (x, y) in EPSG:3035 of a Zensus grid cell id."""
    match = _ID_RE.match(cell_id.strip())
    if not match:
        raise ValueError(
            f"Gitter-ID '{cell_id}' nicht lesbar; erwartet z. B. 'CRS3035RES100mN2689100E4337000'"
        )
    size = int(match["size"]) * (1000 if match["unit"] == "km" else 1)
    return size, float(match["east"]), float(match["north"])


def list_grid_files(archive: Path) -> list[GridFile]:
    """The grid CSVs in a ZIP, or the CSV itself, with resolution and value column."""
    with ExitStack() as stack:
        zf = _open_zip(archive, stack)
        members = _csv_members(zf, archive) if zf else [archive.name]
        files = []
        for member in members:
            layout = _layout(archive, zf, member)
            values = tuple(layout.columns[i] for i in layout.value_columns)
            files.append(GridFile(member, layout.resolution_m, values[0], values))
        return files


def read_grid_batches(
    archive: Path,
    *,
    resolution_m: int | None = None,
    member: str | None = None,
    extent_3035: tuple[float, float, float, float] | None = None,
    batch_size: int = 200_000,
) -> Iterator[pd.DataFrame]:
    """Batches of at most ``batch_size`` rows, one per cell and value column; unusable rows say why.

    ``extent_3035`` (min_x, min_y, max_x, max_y) keeps cells whose lower-left corner lies inside
    (min inclusive, max exclusive); the CSV lines left out are counted in
    ``frame.attrs["outside_extent"]``. Rows without a location are kept (rejected).
    """
    with ExitStack() as stack:
        zf = _open_zip(archive, stack)
        members = _csv_members(zf, archive) if zf else [archive.name]
        if member is not None:
            if member not in members:
                raise SourceFormatError(
                    f"{archive.name}: Datei {member} nicht im Archiv; vorhanden sind: "
                    f"{', '.join(members)}"
                )
            members = [member]
        layouts = [_layout(archive, zf, m) for m in members]
        if resolution_m is not None:
            available = sorted({layout.resolution_m for layout in layouts})
            layouts = [layout for layout in layouts if layout.resolution_m == resolution_m]
            if not layouts:
                raise SourceFormatError(
                    f"{archive.name}: kein Gitter mit {resolution_m} m Auflösung; vorhanden: "
                    f"{', '.join(f'{r} m' for r in available)}"
                )
        for layout in layouts:
            # several value columns give several rows per line: stay within batch_size rows
            lines = max(1, batch_size // len(layout.value_columns))
            for table in _tables(archive, zf, layout, lines):
                frame = _frame(table, layout, extent_3035)
                frame.attrs["member"] = layout.member
                yield frame


def cell_polygons(
    x_ll: npt.ArrayLike, y_ll: npt.ArrayLike, size: npt.ArrayLike
) -> npt.NDArray[np.object_]:
    """Square cells in EPSG:3035 from their lower-left corners and edge length."""
    x, y, s = np.broadcast_arrays(
        np.asarray(x_ll, dtype=float), np.asarray(y_ll, dtype=float), np.asarray(size, dtype=float)
    )
    return cast(npt.NDArray[np.object_], shapely.box(x, y, x + s, y + s))


def cells_to_25832(
    x_ll: npt.ArrayLike, y_ll: npt.ArrayLike, size: npt.ArrayLike
) -> npt.NDArray[np.object_]:
    """Cells as quadrilaterals in EPSG:25832: the four corners of each square reprojected."""
    x, y, s = np.broadcast_arrays(
        np.asarray(x_ll, dtype=float), np.asarray(y_ll, dtype=float), np.asarray(size, dtype=float)
    )
    x, y, s = np.atleast_1d(x), np.atleast_1d(y), np.atleast_1d(s)
    # ring lower-left, lower-right, upper-right, upper-left, closed: counter-clockwise
    xs = np.stack([x, x + s, x + s, x, x], axis=-1)
    ys = np.stack([y, y, y + s, y + s, y], axis=-1)
    ex, ny = _to_25832().transform(xs.ravel(), ys.ravel())
    rings = np.stack([np.reshape(ex, xs.shape), np.reshape(ny, ys.shape)], axis=-1)
    return cast(npt.NDArray[np.object_], shapely.polygons(rings))


@lru_cache(maxsize=1)
def _to_25832() -> Transformer:
    return Transformer.from_crs("EPSG:3035", "EPSG:25832", always_xy=True)


def _open_zip(archive: Path, stack: ExitStack) -> zipfile.ZipFile | None:
    """The opened ZIP, or None when ``archive`` is a bare CSV."""
    if archive.suffix.lower() != ".zip" and not zipfile.is_zipfile(archive):
        return None
    try:
        return stack.enter_context(zipfile.ZipFile(archive))
    except _CORRUPT as e:
        raise SourceFormatError(
            f"{archive.name} ist beschädigt (kein lesbares ZIP-Archiv): {e}; "
            "Datei erneut herunterladen"
        ) from e


def _csv_members(zf: zipfile.ZipFile, archive: Path) -> list[str]:
    names = [
        info.filename
        for info in zf.infolist()
        if not info.is_dir()
        and info.filename.lower().endswith(".csv")
        and not info.filename.startswith("__MACOSX/")
    ]
    if not names:
        raise SourceFormatError(
            f"{archive.name} enthält keine CSV-Datei; vorhanden sind: "
            f"{', '.join(zf.namelist()) or 'nichts'}"
        )
    return names


def _open_member(archive: Path, zf: zipfile.ZipFile | None, member: str) -> IO[bytes]:
    if zf is None:
        return archive.open("rb")
    try:
        return zf.open(member)
    except NotImplementedError as e:
        raise SourceFormatError(
            f"{archive.name}/{member}: Kompressionsverfahren nicht unterstützt ({e}); "
            "ZIP mit Deflate neu packen"
        ) from e
    except _CORRUPT as e:
        raise SourceFormatError(f"{archive.name}/{member} ist beschädigt: {e}") from e


def _layout(archive: Path, zf: zipfile.ZipFile | None, member: str) -> _Layout:
    """Encoding, delimiter and column positions from the header of one grid CSV."""
    label = f"{archive.name}/{member}" if zf else archive.name
    # zipfile.Path offers the open()/name interface the detection helpers use on a Path
    source = cast(Path, zipfile.Path(zf, at=member)) if zf else archive
    try:
        with _open_member(archive, zf, member) as stream:
            raw = stream.readline(_MAX_HEADER_BYTES)
        encoding = detect_encoding(source)
    except _CORRUPT as e:
        raise SourceFormatError(f"{label} ist beschädigt: {e}") from e
    try:
        header = raw.decode(encoding).strip("\r\n")
    except UnicodeDecodeError as e:
        raise SourceFormatError(f"{label}: Kopfzeile nicht lesbar ({encoding}): {e}") from e
    if ";" in header:
        delimiter = ";"
    else:
        try:
            delimiter = detect_delimiter(source, encoding)
        except SourceFormatError:
            delimiter = ";"
    columns = tuple(c.strip().strip('"').strip() for c in header.split(delimiter))
    if len(columns) < 2:
        raise SourceFormatError(
            f"{label}: Kopfzeile hat nur eine Spalte ('{header[:80]}'); "
            "erwartet werden durch ';' getrennte Spalten wie GITTER_ID_100m;x_mp_100m;y_mp_100m"
        )

    def find(pattern: str) -> int | None:
        found = [i for i, c in enumerate(columns) if re.fullmatch(pattern, c, re.IGNORECASE)]
        return found[0] if found else None

    id_column, x_column, y_column = (
        find(r"GITTER_ID(_\w+)?"),
        find(r"x_mp(_\w+)?"),
        find(r"y_mp(_\w+)?"),
    )
    flag_column = find(r"wert\w*zeichen")
    resolution = _resolution(columns, (id_column, x_column, y_column), member)
    if id_column is None and (x_column is None or y_column is None):
        suffix = _suffix(resolution)
        raise SourceFormatError(
            f"{label}: Spalte GITTER_ID_{suffix} fehlt (und x_mp_{suffix}/y_mp_{suffix} "
            f"ebenso); vorhanden sind: {', '.join(columns)}"
        )
    if resolution is None:
        raise SourceFormatError(
            f"{label}: Gitterauflösung weder aus Spaltennamen noch aus Dateiname erkennbar; "
            f"vorhanden sind: {', '.join(columns)}"
        )
    used = {id_column, x_column, y_column, flag_column}
    values = tuple(i for i, c in enumerate(columns) if i not in used and c)
    if not values:
        raise SourceFormatError(
            f"{label}: keine Wertspalte (Merkmal) gefunden; vorhanden sind: {', '.join(columns)}"
        )
    return _Layout(
        member,
        label,
        encoding,
        delimiter,
        columns,
        id_column,
        x_column,
        y_column,
        flag_column,
        values,
        resolution,
    )


def _resolution(
    columns: tuple[str, ...], positions: tuple[int | None, ...], member: str
) -> int | None:
    """Cell size in metres from ``GITTER_ID_1km``-style column names, else from the file name."""
    for i in positions:
        match = _COLUMN_RESOLUTION_RE.match(columns[i]) if i is not None else None
        if match:
            return int(match[1]) * (1000 if match[2].lower() == "km" else 1)
    match = _NAME_RESOLUTION_RE.search(Path(member).stem)
    if match:
        return int(match[1]) * (1000 if match[2].lower() == "km" else 1)
    return None


def _suffix(resolution: int | None) -> str:
    """The resolution as destatis writes it in column names: 100m, 1km, 10km."""
    if resolution is None:
        return "100m"
    if resolution >= 1000 and resolution % 1000 == 0:
        return f"{resolution // 1000}km"
    return f"{resolution}m"


def _tables(
    archive: Path, zf: zipfile.ZipFile | None, layout: _Layout, batch_size: int
) -> Iterator[pa.Table]:
    """Tables of ``batch_size`` rows (the last one fewer): text columns plus line numbers."""
    pending: list[pa.Table] = []
    rows = 0
    block_bytes = min(max(batch_size * 32, 1 << 16), _MAX_BLOCK_BYTES)
    for table in _blocks(archive, zf, layout, block_bytes):
        pending.append(table)
        rows += table.num_rows
        while rows >= batch_size:
            combined = pa.concat_tables(pending)
            yield combined.slice(0, batch_size)
            rest = combined.slice(batch_size)
            pending, rows = [rest], rest.num_rows
    if rows:
        yield pa.concat_tables(pending)


def _blocks(
    archive: Path, zf: zipfile.ZipFile | None, layout: _Layout, block_bytes: int
) -> Iterator[pa.Table]:
    """Parse the CSV in line-aligned byte blocks.

    pyarrow's streaming reader over a Python file can crash the interpreter when abandoned early
    (apache/arrow#43604), so blocks are read here and each parsed from memory.
    """
    names = [f"c{i}" for i in range(len(layout.columns))]
    keep = [
        i
        for i in (layout.id_column, layout.x_column, layout.y_column, layout.flag_column)
        if i is not None
    ] + list(layout.value_columns)
    read_options = pa_csv.ReadOptions(column_names=names, use_threads=False)
    convert_options = pa_csv.ConvertOptions(
        column_types={n: pa.string() for n in names}, include_columns=[names[i] for i in keep]
    )
    transcode = layout.encoding.replace("-", "").lower() not in ("utf8", "utf8sig")
    line = 2
    with _open_member(archive, zf, layout.member) as stream:
        try:
            stream.readline(_MAX_HEADER_BYTES)
            for raw in _line_blocks(stream, block_bytes):
                try:
                    block = raw.decode(layout.encoding).encode("utf-8") if transcode else raw
                    table = _parse_block(
                        block, line, layout, names, keep, read_options, convert_options
                    )
                except UnicodeDecodeError as e:
                    raise SourceFormatError(
                        f"{layout.label}: Zeile {line + raw.count(b'\n', 0, e.start)} nicht als "
                        f"{layout.encoding} lesbar ({e.reason}); "
                        "Datei einheitlich kodiert speichern"
                    ) from e
                except pa.ArrowInvalid as e:
                    if "UTF8" in str(e):
                        try:
                            raw.decode("utf-8")
                        except UnicodeDecodeError as bad:
                            raise SourceFormatError(
                                f"{layout.label}: Zeile {line + raw.count(b'\n', 0, bad.start)} "
                                "ist nicht UTF-8-kodiert wie der Dateianfang; "
                                "Datei einheitlich kodiert speichern"
                            ) from e
                    raise SourceFormatError(
                        f"{layout.label}: CSV ab Zeile {line} nicht lesbar "
                        f"({layout.encoding}, '{layout.delimiter}'): {e}"
                    ) from e
                yield table
                line += raw.count(b"\n")
        except _CORRUPT as e:
            raise SourceFormatError(
                f"{layout.label} ist beschädigt (bemerkt beim Lesen ab Zeile {line}): {e}; "
                "Datei erneut herunterladen"
            ) from e


def _line_blocks(stream: IO[bytes], block_bytes: int) -> Iterator[bytes]:
    """Blocks of about ``block_bytes`` that end with a complete line."""
    carry = b""
    while data := stream.read(block_bytes):
        block = carry + data
        cut = block.rfind(b"\n") + 1
        block, carry = block[:cut], block[cut:]
        if block:
            yield block
    if carry:
        yield carry + b"\n"


def _parse_block(
    block: bytes,
    first_line: int,
    layout: _Layout,
    names: list[str],
    keep: list[int],
    read_options: pa_csv.ReadOptions,
    convert_options: pa_csv.ConvertOptions,
) -> pa.Table:
    """One block as text columns with ``__line``; rows of the wrong width padded, with a reason."""
    invalid: list[tuple[int, str]] = []

    def on_invalid(row: pa_csv.InvalidRow) -> str:
        # the number is known when parsing without threads; -1 only keeps a surprise harmless
        invalid.append((row.number if row.number is not None else -1, row.text))
        return "skip"

    parse_options = pa_csv.ParseOptions(
        delimiter=layout.delimiter, ignore_empty_lines=False, invalid_row_handler=on_invalid
    )
    table = pa_csv.read_csv(pa.py_buffer(block), read_options, parse_options, convert_options)
    lines = np.arange(first_line, first_line + block.count(b"\n"), dtype=np.int64)
    if invalid:
        lines = np.delete(lines, [number - 1 for number, _ in invalid if number > 0])
        lines = lines[: table.num_rows]  # only shortened when a row number was unknown
    table = table.append_column(_LINE, pa.array(lines)).append_column(
        _SHAPE, pa.nulls(table.num_rows, pa.string())
    )
    if not invalid:
        return table
    width = len(names)
    fields = [text.split(layout.delimiter) for _, text in invalid]
    padded = [(f + [""] * width)[:width] for f in fields]
    extra = {names[i]: pa.array([p[i] for p in padded], pa.string()) for i in keep}
    extra[_LINE] = pa.array([first_line + number - 1 for number, _ in invalid], pa.int64())
    # a missing trailing werterlaeuternde_Zeichen field is harmless; other widths are not
    extra[_SHAPE] = pa.array(
        [
            None
            if len(f) == width - 1 and layout.flag_column == width - 1
            else f"Zeile hat {len(f)} statt {width} Felder"
            for f in fields
        ],
        pa.string(),
    )
    return pa.concat_tables([table, pa.table(extra).select(table.column_names)]).sort_by(_LINE)


def _text(table: pa.Table, index: int | None) -> pa.Array | None:
    if index is None:
        return None
    return pc.utf8_trim_whitespace(table.column(f"c{index}").combine_chunks())


def _numpy(array: pa.Array) -> npt.NDArray[Any]:
    return cast(npt.NDArray[Any], array.to_numpy(zero_copy_only=False))


def _decimal(text: pa.Array) -> npt.NDArray[np.float64]:
    """Numbers with decimal comma (a point is accepted when no comma occurs); NaN if unreadable."""
    try:
        # fast path: plain numbers like 12 or 12,5
        return _numpy(pc.cast(pc.replace_substring(text, ",", "."), pa.float64()))
    except pa.ArrowInvalid:
        pass
    comma = pc.match_substring(text, ",")
    normal = pc.if_else(
        comma, pc.replace_substring(pc.replace_substring(text, ".", ""), ",", "."), text
    )
    readable = pc.match_substring_regex(normal, _NUMBER_PATTERN)
    return _numpy(pc.cast(pc.if_else(readable, normal, pa.scalar(None, pa.string())), pa.float64()))


def _objects(array: pa.Array) -> npt.NDArray[np.object_]:
    """Text as an object array with None for missing and empty values."""
    present = _numpy(pc.fill_null(pc.not_equal(array, ""), False))
    values = np.full(len(array), None, dtype=object)
    if present.any():
        values[present] = _numpy(array.filter(pa.array(present)))
    return values


def _mask(condition: pa.Array) -> npt.NDArray[np.bool_]:
    return cast(npt.NDArray[np.bool_], _numpy(pc.fill_null(condition, False)).astype(bool))


def _join(
    reasons: npt.NDArray[np.object_], mask: npt.NDArray[np.bool_], texts: str | list[str]
) -> None:
    """Add a reason to the rows in ``mask``; several reasons are joined with '; '."""
    if not mask.any():
        return
    # Python per row, but only for rejected rows
    new = [texts] * int(mask.sum()) if isinstance(texts, str) else texts
    reasons[mask] = [
        n if o is None else f"{o}; {n}" for o, n in zip(reasons[mask], new, strict=True)
    ]


def _locate(table: pa.Table, layout: _Layout) -> tuple[pd.DataFrame, pa.Array]:
    """Lower-left corners and resolution from the ids, else from the centres; the trimmed ids."""
    size = table.num_rows
    ids = _text(table, layout.id_column)
    if ids is None:
        ids = pa.nulls(size, pa.string())
    x_ll = np.full(size, np.nan)
    y_ll = np.full(size, np.nan)
    resolution = np.full(size, layout.resolution_m, dtype=np.int64)
    parts = pc.extract_regex(ids, _ID_PATTERN).flatten()
    from_id = _numpy(parts[0].is_valid())
    if from_id.any():
        res = _numpy(pc.cast(parts[0], pa.float64()))
        km = _mask(pc.equal(parts[1], "km"))
        resolution[from_id] = np.where(km, res * 1000, res)[from_id].astype(np.int64)
        x_ll[from_id] = _numpy(pc.cast(parts[3], pa.float64()))[from_id]
        y_ll[from_id] = _numpy(pc.cast(parts[2], pa.float64()))[from_id]
    rest = ~from_id
    if rest.any() and layout.x_column is not None and layout.y_column is not None:
        # ids missing or malformed: the centre minus half a cell
        selection = pa.array(rest)
        half = layout.resolution_m / 2
        x_ll[rest] = (
            _decimal(cast(pa.Array, _text(table, layout.x_column)).filter(selection)) - half
        )
        y_ll[rest] = (
            _decimal(cast(pa.Array, _text(table, layout.y_column)).filter(selection)) - half
        )
    location = pd.DataFrame(
        {"resolution_m": resolution, "x_ll": x_ll, "y_ll": y_ll, "from_id": from_id}
    )
    return location, ids


def _frame(
    table: pa.Table, layout: _Layout, extent: tuple[float, float, float, float] | None
) -> pd.DataFrame:
    """Cells with location, value, flag and reject reason from one table of text columns."""
    location, ids = _locate(table, layout)
    x_ll, y_ll = location["x_ll"].to_numpy(), location["y_ll"].to_numpy()
    located = ~(np.isnan(x_ll) | np.isnan(y_ll))
    blank = np.ones(table.num_rows, dtype=bool)
    for name in table.column_names[:-2]:
        blank &= _numpy(pc.fill_null(pc.equal(table.column(name), ""), True))
    keep = ~blank  # an empty line is no record
    outside = 0
    if extent is not None:
        min_x, min_y, max_x, max_y = extent
        inside = (x_ll >= min_x) & (x_ll < max_x) & (y_ll >= min_y) & (y_ll < max_y)
        outside = int((located & ~inside & keep).sum())
        keep &= inside | ~located
    if not keep.all():
        selection = pa.array(keep)
        table, ids = table.filter(selection), ids.filter(selection)
        location = location[keep].reset_index(drop=True)
        located = located[keep]

    cell_id = pd.Series(ids, dtype="str").replace("", None)
    fallback = located & ~location.pop("from_id").to_numpy()
    if fallback.any():
        # a canonical id for cells located by their centre, so every located cell has a key
        cells = location[fallback]
        cell_id[fallback] = (
            "CRS3035RES"
            + cells["resolution_m"].astype(str)
            + "mN"
            + cells["y_ll"].round().astype(np.int64).astype(str)
            + "E"
            + cells["x_ll"].round().astype(np.int64).astype(str)
        ).to_numpy()
    reasons = _objects(table.column(_SHAPE).combine_chunks())
    if not located.all():
        shown = _objects(ids)[~located]
        _join(
            reasons,
            ~located,
            [f"Gitter-ID '{i or ''}' und Mittelpunkt nicht lesbar" for i in shown],
        )
    flag_text = _text(table, layout.flag_column)
    flags = _objects(flag_text) if flag_text is not None else np.full(len(ids), None, object)
    location.insert(0, "cell_id", cell_id)
    lines = _numpy(table.column(_LINE).combine_chunks())
    frames = [
        _values(table, index, layout, location, reasons.copy(), flags.copy(), lines)
        for index in layout.value_columns
    ]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    frame.attrs["outside_extent"] = outside
    return frame


def _values(
    table: pa.Table,
    index: int,
    layout: _Layout,
    location: pd.DataFrame,
    reasons: npt.NDArray[np.object_],
    flags: npt.NDArray[np.object_],
    lines: npt.NDArray[np.int64],
) -> pd.DataFrame:
    """The rows of one value column: location, value, flag and reasons."""
    text = cast(pa.Array, _text(table, index))
    size = len(text)
    marker = _mask(pc.is_in(text, value_set=pa.array(list(_MARKERS))))
    empty = _numpy(pc.fill_null(pc.equal(text, ""), True))
    value = _decimal(pc.if_else(pa.array(marker | empty), pa.scalar(None, pa.string()), text))
    if marker.any():
        flags[marker] = pd.Series(_numpy(text.filter(pa.array(marker)))).map(_MARKERS)
    unreadable = np.isnan(value) & ~marker & ~empty
    if unreadable.any():
        shown = _numpy(text.filter(pa.array(unreadable)))
        _join(reasons, unreadable, [f"Wert '{v}' ist keine Zahl" for v in shown])
    _join(reasons, empty & pd.isna(flags), "Wert fehlt")
    source = layout.columns[index]
    frame = location.copy()
    frame["indicator"] = pd.Series(pa.repeat(pa.scalar(indicator_name(source)), size), dtype="str")
    frame["indicator_source"] = pd.Series(pa.repeat(pa.scalar(source), size), dtype="str")
    frame["value"] = value
    frame["flag"] = pd.Series(flags, dtype="str")
    frame["row_number"] = lines
    frame["reject_reason"] = pd.Series(reasons, dtype="str")
    return frame
