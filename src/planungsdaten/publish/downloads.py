"""Bulk downloads of every open dataset (GeoPackage, GeoJSON, CSV), as the EU High-Value
Datasets regulation asks for besides the API.

The files of a dataset are keyed by its content, the set of current dataset versions of
its table: they are regenerated only when a harvest has changed that set. Each file is
written under a temporary name, streamed in bounded batches from one consistent snapshot
(memory stays flat whatever the table size), then renamed into place; `index.json` in the
downloads folder records what is there. Restricted data is never written: only the rows of
`published_datasets` (a vacancy register only as its aggregate) are exported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyogrio
from psycopg import sql
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from planungsdaten.checksums import sha256_file
from planungsdaten.db.copy import driver_connection
from planungsdaten.db.errors import DatabaseUnavailableError
from planungsdaten.db.queries import query
from planungsdaten.errors import NotFoundError, PlanungsdatenError
from planungsdaten.publish.ogc_config import COLLECTIONS, CollectionSpec
from planungsdaten.settings import Settings

log = logging.getLogger(__name__)

PACKAGE = "planungsdaten.publish"
INDEX_FILE = "index.json"
INDEX_LOCK = "index"
BATCH_ROWS = 10_000
STORAGE_EPSG = "EPSG:25832"
# a temporary file this old belongs to a writer that died
STALE_TEMP_S = 24 * 3600
_TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class DownloadFormat:
    """A file format offered for every open dataset."""

    extension: str
    title: str
    media_type: str


FORMATS: dict[str, DownloadFormat] = {
    "gpkg": DownloadFormat("gpkg", "GeoPackage", "application/geopackage+sqlite3"),
    "geojson": DownloadFormat("geojson", "GeoJSON", "application/geo+json"),
    "csv": DownloadFormat("csv", "CSV", "text/csv; charset=utf-8"),
}


class DownloadError(PlanungsdatenError):
    """A bulk download could not be generated."""


class DownloadNotFoundError(NotFoundError):
    """No open dataset or no format under this name."""


@dataclass(frozen=True)
class DownloadFile:
    """One generated file as recorded in `index.json`; `stored_name` is its name in the
    downloads folder, `file_name` the name clients get."""

    collection_id: str
    format: str
    file_name: str
    stored_name: str
    media_type: str
    bytes: int
    sha256: str
    generated_at: datetime
    dataset_version_ids: tuple[int, ...]
    table: str

    def to_json(self) -> dict[str, Any]:
        """The entry in `index.json`."""
        return {
            "collection_id": self.collection_id,
            "format": self.format,
            "file_name": self.file_name,
            "stored_name": self.stored_name,
            "media_type": self.media_type,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "generated_at": self.generated_at.isoformat(),
            "dataset_version_ids": list(self.dataset_version_ids),
            "table": self.table,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DownloadFile:
        """An entry read back from `index.json`."""
        return cls(
            collection_id=data["collection_id"],
            format=data["format"],
            file_name=data["file_name"],
            stored_name=data["stored_name"],
            media_type=data["media_type"],
            bytes=int(data["bytes"]),
            sha256=data["sha256"],
            generated_at=datetime.fromisoformat(data["generated_at"]),
            dataset_version_ids=tuple(int(v) for v in data["dataset_version_ids"]),
            table=data["table"],
        )


@dataclass(frozen=True)
class OpenDataset:
    """A published canonical table with what its downloads are keyed by and must cite."""

    table: str
    spec: CollectionSpec
    version_ids: tuple[int, ...]
    licences: tuple[str, ...]
    attributions: tuple[str, ...]


@dataclass(frozen=True)
class _Column:
    name: str
    type: str
    category: str


# -- catalogue -----------------------------------------------------------------------------


def open_datasets(conn: Connection) -> list[OpenDataset]:
    """Every open dataset with a current version that has a collection (restricted never)."""
    datasets = []
    for row in conn.execute(query("published_datasets")).all():
        spec = COLLECTIONS.get(row.target_table)
        if spec is None:
            continue
        versions = conn.execute(
            query("download_versions", PACKAGE),
            {"source_ids": list(row.source_ids), "target_table": row.target_table},
        ).scalar_one()
        datasets.append(
            OpenDataset(
                table=row.target_table,
                spec=spec,
                version_ids=tuple(sorted(int(v) for v in versions)),
                licences=tuple(sorted(row.licences)),
                attributions=tuple(sorted(row.attributions)),
            )
        )
    return datasets


def open_dataset(conn: Connection, collection_id: str) -> OpenDataset:
    """The open dataset published as `collection_id`; DownloadNotFoundError otherwise."""
    for dataset in open_datasets(conn):
        if dataset.spec.collection_id == collection_id:
            return dataset
    raise DownloadNotFoundError(
        f"Keinen offenen Datensatz '{collection_id}' gefunden. Die verfügbaren Downloads "
        "listet /downloads/."
    )


def download_format(extension: str) -> DownloadFormat:
    """The format for a file extension; DownloadNotFoundError for one not offered."""
    if extension not in FORMATS:
        raise DownloadNotFoundError(
            f"Das Format '{extension}' wird nicht angeboten; verfügbar sind {', '.join(FORMATS)}."
        )
    return FORMATS[extension]


# -- index ---------------------------------------------------------------------------------


def downloads_index(settings: Settings) -> list[DownloadFile]:
    """The files recorded in `<data_dir>/downloads/index.json` (empty before the first)."""
    try:
        data = json.loads((settings.downloads_dir / INDEX_FILE).read_text("utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        raise DownloadError(f"download index unreadable: {e}") from e
    return [DownloadFile.from_json(entry) for entry in data.get("files", [])]


def download_path(settings: Settings, file: DownloadFile) -> Path:
    """Where a recorded file lies."""
    return settings.downloads_dir / file.stored_name


def current_file(
    index: Sequence[DownloadFile], dataset: OpenDataset, extension: str
) -> DownloadFile | None:
    """The recorded file of `dataset` in this format if it holds the current versions."""
    for file in index:
        if (
            file.collection_id == dataset.spec.collection_id
            and file.format == extension
            and file.dataset_version_ids == dataset.version_ids
        ):
            return file
    return None


def _write_index(settings: Settings, files: list[DownloadFile]) -> None:
    files = sorted(files, key=lambda f: (f.collection_id, f.format))
    payload = {"files": [f.to_json() for f in files]}
    tmp = settings.downloads_dir / f"{_TEMP_PREFIX}{uuid.uuid4().hex}-{INDEX_FILE}"
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2), "utf-8")
    os.replace(tmp, settings.downloads_dir / INDEX_FILE)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# -- locks ---------------------------------------------------------------------------------

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(name: str) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(name, threading.Lock())


@contextlib.contextmanager
def _locked(engine: Engine, name: str) -> Iterator[None]:
    """Exclusive for `name` among the threads of this process and all other processes."""
    with _thread_lock(name), engine.connect() as conn, conn.begin():
        conn.execute(query("no_statement_timeout", PACKAGE))
        conn.execute(query("download_lock", PACKAGE), {"key": f"downloads:{name}"})
        yield


# -- writers -------------------------------------------------------------------------------

_OGR_GEOMETRY_TYPES = {
    "POINT": "Point",
    "LINESTRING": "LineString",
    "POLYGON": "Polygon",
    "MULTIPOINT": "MultiPoint",
    "MULTILINESTRING": "MultiLineString",
    "MULTIPOLYGON": "MultiPolygon",
    "GEOMETRYCOLLECTION": "GeometryCollection",
}

_ARROW_TYPES: dict[str, pa.DataType] = {
    "int2": pa.int32(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "timestamp": pa.timestamp("us"),
}


@dataclass(frozen=True)
class _Export:
    """What every writer needs: the dataset, its attribute columns (geometry apart) and
    the declared geometry type, read in the snapshot the files are written from."""

    dataset: OpenDataset
    columns: tuple[_Column, ...]
    geometry_type: str

    @property
    def spec(self) -> CollectionSpec:
        return self.dataset.spec

    def rows_sql(self, select: sql.Composable) -> sql.Composed:
        """`select` over the rows of the current versions, in a stable order."""
        return sql.SQL(
            "SELECT {select} FROM {table} AS t WHERE t.dataset_version_id = ANY(%(versions)s) "
            "ORDER BY t.{id}, t.dataset_version_id"
        ).format(
            select=select,
            table=sql.Identifier(self.spec.table),
            id=sql.Identifier(self.spec.id_field),
        )

    @property
    def params(self) -> dict[str, Any]:
        return {"versions": list(self.dataset.version_ids)}


def _export(conn: Connection, dataset: OpenDataset) -> _Export:
    spec = dataset.spec
    rows = conn.execute(query("relation_columns", PACKAGE), {"relation": spec.table}).all()
    if not rows:
        raise DownloadError(f"relation {spec.table} of collection {spec.collection_id} missing")
    declared = conn.execute(
        query("geometry_type", PACKAGE), {"relation": spec.table, "column": spec.geom_field}
    ).scalar()
    return _Export(
        dataset,
        tuple(_Column(r.name, r.type, r.category) for r in rows if r.name != spec.geom_field),
        _OGR_GEOMETRY_TYPES.get(str(declared).upper(), "Unknown"),
    )


def _arrow_column(column: _Column) -> tuple[sql.Composable, pa.DataType]:
    """Select expression and Arrow type of a column in the GeoPackage (which has no lists)."""
    ident = sql.Identifier("t", column.name)
    alias = sql.Identifier(column.name)
    if column.category == "A":
        return sql.SQL("array_to_json({})::text AS {}").format(ident, alias), pa.string()
    if column.type in _ARROW_TYPES:
        return sql.SQL("{} AS {}").format(ident, alias), _ARROW_TYPES[column.type]
    if column.type in ("float4", "float8", "numeric"):
        return sql.SQL("{}::float8 AS {}").format(ident, alias), pa.float64()
    return sql.SQL("{}::text AS {}").format(ident, alias), pa.string()


def _write_gpkg(raw: psycopg.Connection[Any], export: _Export, target: Path, batch: int) -> None:
    """GeoPackage in EPSG:25832, one layer named after the collection, written batch by
    batch through an Arrow stream."""
    spec = export.spec
    pairs = [_arrow_column(c) for c in export.columns]
    geom = sql.Identifier(spec.geom_field)
    select = sql.SQL(", ").join(
        [expr for expr, _ in pairs] + [sql.SQL("ST_AsBinary(t.{}) AS {}").format(geom, geom)]
    )
    schema = pa.schema(
        [pa.field(c.name, t) for c, (_, t) in zip(export.columns, pairs, strict=True)]
        + [pa.field(spec.geom_field, pa.binary())]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        with raw.cursor(name=f"downloads_gpkg_{uuid.uuid4().hex}") as cur:
            cur.execute(export.rows_sql(select), export.params)
            while rows := cur.fetchmany(batch):
                columns = list(zip(*rows, strict=True))
                yield pa.record_batch(
                    [
                        pa.array(values, type=f.type)
                        for values, f in zip(columns, schema, strict=True)
                    ],
                    schema=schema,
                )

    sources = "; ".join(export.dataset.attributions)
    pyogrio.write_arrow(
        pa.RecordBatchReader.from_batches(schema, batches()),
        str(target),
        layer=spec.collection_id,
        driver="GPKG",
        geometry_name=spec.geom_field,
        geometry_type=export.geometry_type,
        crs=STORAGE_EPSG,
        layer_options={
            "IDENTIFIER": spec.title,
            "DESCRIPTION": f"{spec.description} Quellen: {sources}.",
        },
    )


# one RFC 7946 Feature as text, made by PostGIS: {id}, {geom} and {properties} are filled in
_FEATURE_SQL = """'{{"type":"Feature","id":' || coalesce(to_json(t.{id})::text, 'null')
    || ',"geometry":' || coalesce(ST_AsGeoJSON(ST_Transform(t.{geom}, 4326), 7), 'null')
    || ',"properties":' || (SELECT row_to_json(p) FROM (SELECT {properties}) AS p)::text
    || '}}'"""


def _write_geojson(raw: psycopg.Connection[Any], export: _Export, target: Path, batch: int) -> None:
    """RFC 7946 FeatureCollection in CRS84, written feature by feature as PostGIS makes them."""
    spec = export.spec
    properties = sql.SQL(", ").join(sql.Identifier("t", c.name) for c in export.columns)
    feature = sql.SQL(_FEATURE_SQL).format(
        id=sql.Identifier(spec.id_field),
        geom=sql.Identifier(spec.geom_field),
        properties=properties,
    )
    with (
        target.open("wb") as out,
        raw.cursor(name=f"downloads_geojson_{uuid.uuid4().hex}") as cur,
    ):
        cur.execute(export.rows_sql(feature), export.params)
        out.write(b'{"type":"FeatureCollection","features":[\n')
        separator = b""
        while rows := cur.fetchmany(batch):
            for (text_,) in rows:
                out.write(separator + text_.encode())
                separator = b",\n"
        out.write(b"\n]}\n")


def _write_csv(raw: psycopg.Connection[Any], export: _Export, target: Path, batch: int) -> None:
    """CSV with a header: every attribute, then the geometry as WKT in EPSG:25832 (column
    `wkt`, which GDAL and QGIS recognise), streamed from COPY."""
    columns: list[sql.Composable] = []
    for c in export.columns:
        ident = sql.Identifier("t", c.name)
        if c.category == "A":  # JSON arrays rather than PostgreSQL's {a,b} literals
            columns.append(sql.SQL("array_to_json({}) AS {}").format(ident, sql.Identifier(c.name)))
        else:
            columns.append(ident)
    columns.append(sql.SQL("ST_AsText(t.{}) AS wkt").format(sql.Identifier(export.spec.geom_field)))
    statement = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(
        export.rows_sql(sql.SQL(", ").join(columns))
    )
    with target.open("wb") as out, raw.cursor() as cur, cur.copy(statement, export.params) as copy:
        for chunk in copy:
            out.write(chunk)


_WRITERS = {"gpkg": _write_gpkg, "geojson": _write_geojson, "csv": _write_csv}


# -- generation ----------------------------------------------------------------------------


def _find(datasets: Sequence[OpenDataset], collection_id: str) -> OpenDataset | None:
    return next((d for d in datasets if d.spec.collection_id == collection_id), None)


def _temp_path(settings: Settings, name: str) -> Path:
    return settings.downloads_dir / f"{_TEMP_PREFIX}{uuid.uuid4().hex}-{name}"


def _generate(
    engine: Engine, settings: Settings, collection_id: str, batch: int
) -> list[tuple[DownloadFile, Path]]:
    """Every format of one dataset into temporary files, all from one snapshot (whose
    versions are the files' key); empty if the dataset is no longer open."""
    started = time.perf_counter()
    written: list[tuple[DownloadFile, Path]] = []
    try:
        with (
            engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
            conn.begin(),
        ):
            conn.execute(query("no_statement_timeout", PACKAGE))
            dataset = _find(open_datasets(conn), collection_id)
            if dataset is None:
                return []
            export = _export(conn, dataset)
            raw = driver_connection(conn)
            key = hashlib.sha256(repr(dataset.version_ids).encode()).hexdigest()[:16]
            for extension, writer in _WRITERS.items():
                tmp = _temp_path(settings, f"{collection_id}.{extension}")
                written.append((_entry(dataset, FORMATS[extension], key), tmp))
                writer(raw, export, tmp, batch)
    except BaseException:
        for _, tmp in written:
            _remove(tmp)
        raise
    generated_at = datetime.now(UTC).replace(microsecond=0)
    files = [
        (
            replace(
                entry,
                bytes=tmp.stat().st_size,
                sha256=sha256_file(tmp),
                generated_at=generated_at,
            ),
            tmp,
        )
        for entry, tmp in written
    ]
    log.info(
        "downloads of %s generated for dataset versions %s in %.1f s",
        collection_id,
        list(dataset.version_ids),
        time.perf_counter() - started,
    )
    return files


def _entry(dataset: OpenDataset, fmt: DownloadFormat, key: str) -> DownloadFile:
    cid = dataset.spec.collection_id
    return DownloadFile(
        collection_id=cid,
        format=fmt.extension,
        file_name=f"{cid}.{fmt.extension}",
        stored_name=f"{cid}.{key}.{fmt.extension}",
        media_type=fmt.media_type,
        bytes=0,
        sha256="",
        generated_at=datetime.now(UTC),
        dataset_version_ids=dataset.version_ids,
        table=dataset.table,
    )


def _install(
    engine: Engine, settings: Settings, collection_id: str, files: list[tuple[DownloadFile, Path]]
) -> None:
    """Rename the new files into place, record them, then remove the replaced ones."""
    with _locked(engine, INDEX_LOCK):
        index = downloads_index(settings)
        for file, tmp in files:
            os.replace(tmp, download_path(settings, file))
        kept = [f for f in index if f.collection_id != collection_id] + [f for f, _ in files]
        _write_index(settings, kept)
        names = {f.stored_name for f in kept}
        for old in index:
            if old.collection_id == collection_id and old.stored_name not in names:
                _remove(download_path(settings, old))


def _is_current(settings: Settings, index: Sequence[DownloadFile], dataset: OpenDataset) -> bool:
    for extension in FORMATS:
        file = current_file(index, dataset, extension)
        if file is None or not download_path(settings, file).is_file():
            return False
    return True


def _ensure(
    engine: Engine, settings: Settings, collection_id: str, batch: int
) -> list[DownloadFile]:
    """Generate the files of one dataset unless they hold its current versions already."""
    with _locked(engine, f"dataset:{collection_id}"):
        # looked up again under the lock: another process may have just written them
        with engine.connect() as conn:
            dataset = _find(open_datasets(conn), collection_id)
        if dataset is None or _is_current(settings, downloads_index(settings), dataset):
            return []
        settings.downloads_dir.mkdir(parents=True, exist_ok=True)
        files = _generate(engine, settings, collection_id, batch)
        try:
            if files:
                _install(engine, settings, collection_id, files)
        finally:
            for _, tmp in files:  # left only if installing failed
                _remove(tmp)
        return [f for f, _ in files]


def _prune(engine: Engine, settings: Settings) -> None:
    """Remove what is no longer open, files no entry points to, and temporary files of
    writers that died."""
    if not settings.downloads_dir.is_dir():
        return
    with _locked(engine, INDEX_LOCK):
        with engine.connect() as conn:
            published = {d.spec.collection_id for d in open_datasets(conn)}
        index = downloads_index(settings)
        kept = [f for f in index if f.collection_id in published]
        if len(kept) != len(index):
            _write_index(settings, kept)
        names = {f.stored_name for f in kept} | {INDEX_FILE}
        for path in settings.downloads_dir.iterdir():
            # temporary files come and go meanwhile (writers hold no index lock for them)
            with contextlib.suppress(FileNotFoundError):
                if path.name.startswith(_TEMP_PREFIX):
                    if time.time() - path.stat().st_mtime > STALE_TEMP_S:
                        _remove(path)
                elif path.name not in names and path.is_file():
                    log.info("removing %s (no longer published or replaced)", path.name)
                    _remove(path)


def refresh_downloads(
    engine: Engine, settings: Settings, *, batch_size: int = BATCH_ROWS
) -> list[DownloadFile]:
    """Bring the bulk downloads in line with the open datasets; returns the files written
    by this call (none when every dataset's files already hold its current versions)."""
    with engine.connect() as conn:
        datasets = open_datasets(conn)
    written: list[DownloadFile] = []
    for dataset in datasets:
        written += _ensure(engine, settings, dataset.spec.collection_id, batch_size)
    _prune(engine, settings)
    return written


def current_download(
    engine: Engine, settings: Settings, collection_id: str, extension: str
) -> DownloadFile:
    """The file of an open dataset in a format, generated first if it is missing or holds
    older versions; DownloadNotFoundError for anything not open or not offered."""
    download_format(extension)
    try:
        with engine.connect() as conn:
            dataset = open_dataset(conn, collection_id)
        file = current_file(downloads_index(settings), dataset, extension)
        if file is not None and download_path(settings, file).is_file():
            return file
        _ensure(engine, settings, collection_id, BATCH_ROWS)
    except OperationalError as e:
        raise DatabaseUnavailableError(
            "Die Datenbank ist nicht erreichbar; bitte später erneut versuchen."
        ) from e
    for file in downloads_index(settings):
        if file.collection_id == collection_id and file.format == extension:
            return file
    raise DownloadError(f"Die Datei {collection_id}.{extension} konnte nicht erzeugt werden.")
