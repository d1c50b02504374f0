"""One harvest run: fetch, stream, map, COPY into a new partition, swap atomically, record.

Every canonical table is partitioned by dataset_version_id. A run COPYs each layer into a
fresh table without indexes (fast), then, in the same transaction, attaches it as the
new version's partition (indexes are built then) and detaches and drops the previous
one. Readers see the previous version or the new one, never a mix. A failed or killed run
rolls back as a whole: the previous version stays served. Every record read is loaded,
rejected (`rejected_record`, with reason and raw record) or skipped by the source's filter.

A raster source (target `raster`) takes the same path up to the load: its file is
converted to a COG beside the previous versions' (planungsdaten.rasters.store) and
registered in `raster_version` in the transaction that makes the version current; if that
transaction fails, the new file is deleted. A raster counts as one record read and loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from planungsdaten.db.copy import copy_rows, driver_connection
from planungsdaten.db.queries import query
from planungsdaten.harvest.errors import (
    ConflictError,
    HarvestError,
    NothingLoadedError,
    SourceFormatError,
)
from planungsdaten.harvest.fetch import Fetched, fetch
from planungsdaten.harvest.locate import locate, location_summary
from planungsdaten.harvest.readers import count_layer, read_layer
from planungsdaten.harvest.sources import RASTER_TARGET, Layer, SourceDefinition
from planungsdaten.harvest.targets import (
    SKIPPED_ATTR,
    TARGETS,
    MappedBatch,
    Rejection,
    Repair,
    Target,
    map_frame,
)
from planungsdaten.rasters import store as raster_store
from planungsdaten.rasters.errors import RasterBandsError, RasterError
from planungsdaten.settings import Settings

log = logging.getLogger(__name__)


class Progress(Protocol):
    """Receives the number of records to expect (None if unknown), then batch sizes."""

    def start(self, total: int | None) -> None: ...

    def advance(self, count: int) -> None: ...


@dataclass(frozen=True)
class LayerResult:
    """Counts of one layer of a run."""

    layer: str
    target: str
    version_id: int
    read: int
    loaded: int
    rejected: int
    repaired: int
    skipped: int
    note: str | None = None


@dataclass(frozen=True)
class HarvestResult:
    """What a run did, as recorded in `harvest_run`."""

    run_id: int
    source_id: str
    status: str
    version_ids: tuple[int, ...]
    read: int
    loaded: int
    rejected: int
    skipped: int
    repaired: int = 0
    message: str | None = None
    layers: tuple[LayerResult, ...] = ()

    @property
    def version_id(self) -> int | None:
        """The dataset version, for single-layer sources."""
        return self.version_ids[0] if len(self.version_ids) == 1 else None


@dataclass
class _Counts:
    read: int = 0
    loaded: int = 0
    rejected: int = 0
    repaired: int = 0
    skipped: int = 0


def definition_sha256(source: SourceDefinition) -> str:
    """Fingerprint of the definition: a changed mapping reloads an unchanged file."""
    payload = source.model_dump_json(exclude={"path", "enabled"})
    return hashlib.sha256(payload.encode()).hexdigest()


def register_source(conn: Connection, source: SourceDefinition) -> None:
    """Insert or update the catalogue row of a source definition."""
    conn.execute(
        query("upsert_source"),
        {
            "id": source.id,
            "title": source.title,
            "description": source.description,
            "publisher": source.publisher,
            "licence": source.licence,
            "attribution": source.attribution,
            "access": source.access,
            "hvd_category": source.hvd_category,
            "schedule": source.schedule,
            "definition": source.model_dump_json(exclude={"path"}),
            "definition_path": str(source.path) if source.path else None,
        },
    )


class _Book:
    """Bookkeeping outside the load transaction, so it survives a rollback."""

    def __init__(self, conn: Connection, run_id: int) -> None:
        self.conn, self.run_id = conn, run_id

    def rejections(self, rejections: Sequence[Rejection]) -> None:
        if rejections:
            self.conn.execute(
                query("insert_rejected"),
                [
                    {
                        "run_id": self.run_id,
                        "ref": r.ref,
                        "reason": r.reason,
                        "record": json.dumps(r.record, ensure_ascii=False),
                    }
                    for r in rejections
                ],
            )

    def repairs(self, repairs: Sequence[Repair]) -> None:
        if repairs:
            self.conn.execute(
                query("insert_repaired"),
                [{"run_id": self.run_id, "ref": r.ref, "reason": r.reason} for r in repairs],
            )


_DONE = object()
# ST_Extent yields a box without SRID: state the storage SRID in the EWKT
_EXTENT_SQL = (
    "SELECT 'SRID=25832;' || ST_AsText(ST_Envelope(ST_Extent(geom)::geometry)) FROM {part}"
)


def mapped_batches(
    frames: Iterator[gpd.GeoDataFrame], layer: Layer, source: SourceDefinition
) -> Iterator[tuple[int, MappedBatch]]:
    """(records read, mapped batch) pairs; reading and mapping run in a thread of their own,
    one batch ahead, so they overlap with COPY and the server's work on the batch before.
    The queue holds at most two batches: memory stays bounded."""
    out: queue.Queue[object] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        offset = 0
        try:
            for frame in frames:
                if stop.is_set():
                    return
                mapped = map_frame(frame, layer, source, offset)
                # records a reader left out (outside the extent) count as read and skipped
                read = len(frame) + int(frame.attrs.get(SKIPPED_ATTR, 0))
                offset += read
                out.put((read, mapped))
            out.put(_DONE)
        except BaseException as e:  # handed to the consuming thread
            out.put(e)

    worker = threading.Thread(target=produce, name=f"map-{layer.name}", daemon=True)
    worker.start()
    try:
        while (item := out.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                out.get_nowait()
            worker.join(timeout=0.05)


def _reject_duplicates(
    raw: psycopg.Connection[Any], book: _Book, part: sql.Identifier, target: Target, layer: Layer
) -> int:
    """The same key twice in one source: keep the first, reject the others."""
    assert target.key is not None
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in target.key)
    returned = sql.SQL(", ").join(sql.SQL("p.") + sql.Identifier(k) for k in target.key)
    duplicates = raw.execute(
        sql.SQL(
            "DELETE FROM {part} p USING (SELECT ctid, row_number() OVER "
            "(PARTITION BY {keys} ORDER BY ctid) AS n FROM {part}) d "
            "WHERE p.ctid = d.ctid AND d.n > 1 RETURNING {returned}"
        ).format(part=part, keys=keys, returned=returned)
    ).fetchall()
    label = " / ".join(k.replace("_", " ") for k in target.key)
    book.rejections(
        [
            Rejection(
                f"{layer.name} {' / '.join(map(str, values))}",
                f"{label} {' / '.join(map(str, values))} kommt in der Quelle mehrfach vor; "
                "das erste Objekt wurde übernommen",
                {k: str(v) for k, v in zip(target.key, values, strict=True)},
            )
            for values in duplicates
        ]
    )
    return len(duplicates)


def _create_partition(raw: psycopg.Connection[Any], table: str, version_id: int) -> sql.Identifier:
    """A plain table shaped like `table`'s partitions, without indexes (fast to fill)."""
    part = sql.Identifier(f"{table}_v{version_id}")
    raw.execute(
        sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
            part, sql.Identifier(table)
        )
    )
    return part


def _attach(
    raw: psycopg.Connection[Any], table: str, part: sql.Identifier, version_id: int
) -> None:
    """Attach as the version's partition; the bound check lets ATTACH skip its scan."""
    bound = sql.Identifier(f"{table}_v{version_id}_bound")
    raw.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK (dataset_version_id = {})").format(
            part, bound, sql.Literal(version_id)
        )
    )
    raw.execute(
        sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
            sql.Identifier(table), part, sql.Literal(version_id)
        )
    )


def _drop_versions(raw: psycopg.Connection[Any], table: str, versions: list[int]) -> None:
    for old in versions:
        old_part = sql.Identifier(f"{table}_v{old}")
        raw.execute(
            sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(sql.Identifier(table), old_part)
        )
        raw.execute(sql.SQL("DROP TABLE {}").format(old_part))


def _swap_companion(
    raw: psycopg.Connection[Any],
    table: str,
    fills: tuple[str, ...],
    part: sql.Identifier,
    version_id: int,
    previous: list[int],
    threshold: int,
) -> None:
    """Fill a companion table's partition from the new one and swap it in alongside."""
    companion = _create_partition(raw, table, version_id)
    for fill in fills:
        raw.execute(
            sql.SQL(fill).format(companion=companion, part=part, threshold=sql.Literal(threshold))
        )
    _attach(raw, table, companion, version_id)
    _drop_versions(raw, table, previous)


def _load_layer(
    conn: Connection,
    book: _Book,
    source: SourceDefinition,
    layer: Layer,
    fetched: Fetched,
    settings: Settings,
    progress: Progress | None,
    counts: _Counts,
) -> LayerResult:
    """COPY one layer into a new partition and swap it in (inside the caller's transaction).

    `counts` is updated as records go, so a failed layer still reports what it read."""
    target = TARGETS[layer.target]
    version_id = int(
        conn.execute(
            query("insert_version"),
            {
                "source_id": source.id,
                "target_table": target.table,
                "layer": layer.name,
                "checksum": fetched.sha256,
                "definition_sha256": definition_sha256(source),
                "raw_path": str(fetched.paths[0]),
            },
        ).scalar_one()
    )
    raw = driver_connection(conn)
    table = sql.Identifier(target.table)
    # a plain table without indexes: COPY is fastest there; ATTACH builds the indexes
    part = _create_partition(raw, target.table, version_id)
    part_name = f"{target.table}_v{version_id}"
    if progress is not None:
        progress.start(count_layer(fetched.paths_for(layer.layer), source.format, layer.layer))
    batches = mapped_batches(
        read_layer(
            fetched.paths_for(layer.layer),
            source.format,
            layer.layer,
            source.crs,
            settings.harvest.batch_size,
        ),
        layer,
        source,
    )
    for read, mapped in batches:
        counts.read += read
        counts.skipped += mapped.skipped
        counts.rejected += len(mapped.rejections)
        counts.repaired += len(mapped.repairs)
        book.rejections(mapped.rejections)
        book.repairs(mapped.repairs)
        mapped.columns["dataset_version_id"] = [version_id] * mapped.count  # type: ignore[assignment]
        copy_rows(
            raw, part_name, target.column_names, target.copy_types, mapped.rows(target.column_names)
        )
        if progress is not None:
            progress.advance(read)

    note = None
    if target.locate:
        unlocated = locate(raw, part, settings.harvest.address_similarity)
        book.rejections([Rejection(f"{layer.name} {u.ref}", u.reason, u.record) for u in unlocated])
        counts.rejected += len(unlocated)
        placed = location_summary(raw, part)
        total = sum(placed.values()) + len(unlocated)
        share = sum(placed.values()) / total * 100 if total else 0.0
        methods = ", ".join(f"{m} {n}" for m, n in placed.items())
        note = (
            f"{layer.name}: {sum(placed.values())} von {total} Einträgen verortet "
            f"({share:.0f} %): {methods or 'keine'}"
        )
    loaded = raw.execute(sql.SQL("SELECT count(*) FROM {}").format(part)).fetchone()
    counts.loaded = int(loaded[0]) if loaded else 0
    if counts.loaded == 0:
        raise NothingLoadedError(
            f"Quelle '{source.id}', Ebene {layer.name}: kein einziges Objekt übernommen "
            f"({counts.read} gelesen, {counts.rejected} abgewiesen, {counts.skipped} außerhalb "
            "des Filters); die bisherigen Daten bleiben bestehen"
        )

    previous = [
        int(v)
        for (v,) in conn.execute(
            query("current_versions_of_target"),
            {"source_id": source.id, "target_table": target.table, "layer": layer.name},
        )
    ]
    others = conn.execute(
        query("other_sources_of_target"), {"source_id": source.id, "target_table": target.table}
    ).first()
    if target.conflict_key is not None and others is not None:
        key = sql.Identifier(target.conflict_key)
        clashes = raw.execute(
            sql.SQL(
                "SELECT p.{key}, v.source_id FROM {part} p JOIN {table} t USING ({key}) "
                "JOIN dataset_version v ON v.id = t.dataset_version_id "
                "WHERE v.status = 'current' AND v.source_id <> %s ORDER BY 1 LIMIT 5"
            ).format(part=part, table=table, key=key),
            (source.id,),
        ).fetchall()
        if clashes:
            listed = ", ".join(f"{k} (Quelle '{s}')" for k, s in clashes)
            raise ConflictError(
                f"Quelle '{source.id}': {target.conflict_key} bereits von einer anderen Quelle "
                f"geladen: {listed}. Eine der Quellen einschränken (filter) oder entfernen."
            )

    try:
        # ATTACH builds the unique index on the key: duplicates surface here, so the
        # common case pays no extra scan for them
        with raw.transaction():
            _attach(raw, target.table, part, version_id)
    except psycopg.errors.UniqueViolation:
        if target.key is None:
            raise
        duplicates = _reject_duplicates(raw, book, part, target, layer)
        counts.rejected += duplicates
        counts.loaded -= duplicates
        _attach(raw, target.table, part, version_id)
    _drop_versions(raw, target.table, previous)
    # statistics for the planner from the first query on: bbox filters pick the GiST index
    # and the OGC API's count estimates are right before autovacuum comes round
    raw.execute(sql.SQL("ANALYZE {}").format(part))
    for companion, fill in target.companions:
        _swap_companion(
            raw,
            companion,
            fill,
            part,
            version_id,
            previous,
            threshold=settings.harvest.vacancy_min_count,
        )
    conn.execute(
        query("supersede_versions"),
        {"source_id": source.id, "target_table": target.table, "layer": layer.name},
    )
    extent = raw.execute(
        sql.SQL(target.extent_sql or _EXTENT_SQL).format(part=part, version=sql.Literal(version_id))
    ).fetchone()
    conn.execute(
        query("publish_version"),
        {
            "version_id": version_id,
            "feature_count": counts.loaded,
            "extent": extent[0] if extent else None,
        },
    )
    result = LayerResult(
        layer.name,
        target.table,
        version_id,
        counts.read,
        counts.loaded,
        counts.rejected,
        counts.repaired,
        counts.skipped,
        note,
    )
    log.info("%s: %s", source.id, result)
    return result


def _load_raster(
    conn: Connection,
    source: SourceDefinition,
    layer: Layer,
    fetched: Fetched,
    settings: Settings,
    counts: _Counts,
    written: list[Path],
) -> LayerResult:
    """Convert the source's raster to a COG, register it and make it current (inside the
    caller's transaction); the new file is appended to `written` for removal on failure."""
    spec = source.raster
    assert spec is not None  # the definition's validator ties geotiff, raster: and the target
    counts.read = 1
    owner = raster_store.layer_owner(conn, spec.layer, source.id)
    if owner is not None:
        raise ConflictError(
            f"Quelle '{source.id}': die Rasterebene '{spec.layer}' ist schon von der Quelle "
            f"'{owner}' belegt; einen anderen Namen (raster.layer) wählen"
        )
    version_id = int(
        conn.execute(
            query("insert_version"),
            {
                "source_id": source.id,
                "target_table": RASTER_TARGET,
                "layer": layer.name,
                "checksum": fetched.sha256,
                "definition_sha256": definition_sha256(source),
                "raw_path": str(fetched.paths[0]),
            },
        ).scalar_one()
    )
    if len(fetched.paths) != 1:
        raise SourceFormatError(
            f"Quelle '{source.id}': ein Raster besteht aus genau einer Datei, geliefert wurden "
            f"{len(fetched.paths)}"
        )
    path = fetched.paths[0]
    target = raster_store.raster_path(settings.rasters_dir, source.id, version_id)
    try:
        described = raster_store.describe_source(path, crs=source.crs, nodata=spec.nodata)
        if described.count != len(spec.bands):
            raise RasterBandsError(
                f"{path.name} hat {described.count} Band/Bänder, die Quelldefinition "
                f"beschreibt {len(spec.bands)} (raster.bands): die Beschreibung der Bänder "
                "an die Datei anpassen"
            )
        raster_store.check_in_area(described, raster_store.service_area(conn), path.name)
        with raster_store.staged(target) as temporary:
            info = raster_store.to_cog(
                path,
                temporary,
                crs=source.crs,
                nodata=spec.nodata,
                resolution_m=spec.resolution_m,
                resampling=spec.resampling,
            )
        written.append(target)
    except RasterError as e:
        raise SourceFormatError(
            f"Quelle '{source.id}': {e}; die bisherigen Daten bleiben bestehen"
        ) from e
    previous = [
        int(v)
        for (v,) in conn.execute(
            query("current_versions_of_target"),
            {"source_id": source.id, "target_table": RASTER_TARGET, "layer": layer.name},
        )
    ]
    conn.execute(
        query("supersede_versions"),
        {"source_id": source.id, "target_table": RASTER_TARGET, "layer": layer.name},
    )
    raster_store.register(
        conn,
        version_id,
        spec.layer,
        target,
        settings.rasters_dir,
        info,
        [band.model_dump() for band in spec.bands],
    )
    conn.execute(
        query("publish_version"),
        {
            "version_id": version_id,
            "feature_count": None,  # cells are no features: raster_version has the grid
            "extent": f"SRID={raster_store.STORAGE_SRID};{info.footprint.wkt}",
        },
    )
    # the previous version's file stays for readers that still hold it; older ones go
    keep = {
        target,
        *(raster_store.raster_path(settings.rasters_dir, source.id, v) for v in previous),
    }
    raster_store.prune(target.parent, keep)
    counts.loaded = 1
    result = LayerResult(layer.name, RASTER_TARGET, version_id, 1, 1, 0, 0, 0)
    log.info("%s: raster %s, %d×%d cells", source.id, target, info.width, info.height)
    return result


def _unchanged(book: Connection, source: SourceDefinition, fetched: Fetched) -> list[int] | None:
    """The current versions if this very file was loaded with this very definition."""
    current = book.execute(query("current_versions"), {"source_id": source.id}).all()
    layers = {(layer.target, layer.name) for layer in source.layers}
    if (
        current
        and {(r.target_table, r.layer) for r in current} == layers
        and all(r.checksum_sha256 == fetched.sha256 for r in current)
        and all(r.definition_sha256 == definition_sha256(source) for r in current)
    ):
        return [int(r.id) for r in current]
    return None


def harvest(
    engine: Engine,
    source: SourceDefinition,
    settings: Settings,
    *,
    force: bool = False,
    progress: Progress | None = None,
    on_start: Callable[[int], None] | None = None,
) -> HarvestResult:
    """Harvest one source; raises a HarvestError subclass after recording a failed run.

    `on_start` receives the run id as soon as the run is recorded (for callers that
    answer before the harvest ends)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        register_source(conn, source)
        run_id = int(conn.execute(query("start_run"), {"source_id": source.id}).scalar_one())
        if on_start is not None:
            on_start(run_id)
        book = _Book(conn, run_id)
        layers: list[LayerResult] = []
        tallies: list[_Counts] = []
        fetched: Fetched | None = None

        def finish(status: str, versions: Sequence[int], message: str | None) -> HarvestResult:
            totals = _Counts(
                read=sum(c.read for c in tallies),
                loaded=sum(c.loaded for c in tallies),
                rejected=sum(c.rejected for c in tallies),
                repaired=sum(c.repaired for c in tallies),
                skipped=sum(c.skipped for c in tallies),
            )
            if status == "failed":  # rolled back: nothing of it is served
                totals.loaded = 0
            conn.execute(
                query("finish_run"),
                {
                    "run_id": run_id,
                    "status": status,
                    "checksum": fetched.sha256 if fetched else None,
                    "version_ids": list(versions),
                    "read": totals.read,
                    "loaded": totals.loaded,
                    "rejected": totals.rejected,
                    "repaired": totals.repaired,
                    "skipped": totals.skipped,
                    "message": message,
                    "fetch_info": json.dumps(fetched.fetch_info) if fetched else None,
                },
            )
            return HarvestResult(
                run_id,
                source.id,
                status,
                tuple(versions),
                totals.read,
                totals.loaded,
                totals.rejected,
                totals.skipped,
                totals.repaired,
                message,
                tuple(layers),
            )

        try:
            previous = conn.execute(query("last_fetch"), {"source_id": source.id}).first()
            fetched = fetch(source, settings, previous=previous)
            unchanged = None if force else _unchanged(conn, source, fetched)
            if unchanged is not None:
                log.info("%s: unchanged (sha256 %s), skipped", source.id, fetched.sha256[:12])
                return finish("unchanged", unchanged, "Quelle unverändert")
            # raster files written by this run: deleted unless its transaction commits
            with raster_store.removed_on_failure() as written, engine.begin() as load:
                # one harvest of a source at a time, across processes and machines
                locked = load.execute(
                    text("SELECT pg_try_advisory_xact_lock(hashtext('harvest:' || :id))"),
                    {"id": source.id},
                ).scalar_one()
                if not locked:
                    raise HarvestError(
                        f"Quelle '{source.id}' wird gerade von einem anderen Lauf geerntet; "
                        "später erneut versuchen"
                    )
                # no other harvest of this source runs: earlier runs still 'running' were
                # killed (their transactions rolled back by the server)
                conn.execute(query("fail_stale_runs"), {"source_id": source.id, "run_id": run_id})
                # index builds at ATTACH time are the largest server-side cost of a load
                load.execute(
                    text("SELECT set_config('maintenance_work_mem', :v, true)"),
                    {"v": settings.harvest.maintenance_work_mem},
                )
                for layer in source.layers:
                    tallies.append(_Counts())
                    if layer.target == RASTER_TARGET:
                        layers.append(
                            _load_raster(
                                load, source, layer, fetched, settings, tallies[-1], written
                            )
                        )
                        continue
                    layers.append(
                        _load_layer(
                            load, book, source, layer, fetched, settings, progress, tallies[-1]
                        )
                    )
        except HarvestError as e:
            finish("failed", [], str(e))
            raise
        except DBAPIError as e:
            message = f"Quelle '{source.id}': Datenbankfehler beim Laden: {e.orig}"
            finish("failed", [], message)
            raise HarvestError(message) from e
        except Exception as e:
            # recorded so that no run stays 'running'; the caller still sees the original error
            finish("failed", [], f"Unerwarteter Fehler: {e!r}")
            raise
        notes = "; ".join(r.note for r in layers if r.note) or None
        return finish("succeeded", [r.version_id for r in layers], notes)


def latest_runs(
    conn: Connection, source_id: str | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The most recent harvest runs (of one source, or all), newest first."""
    rows = conn.execute(query("latest_runs"), {"source_id": source_id, "limit": limit})
    return [dict(r._mapping) for r in rows]


def run_details(
    conn: Connection, run_id: int, limit: int = 1000, *, include_restricted: bool = False
) -> dict[str, Any] | None:
    """One run with its rejected and repaired records (up to `limit` each).

    Records of a restricted source (personal data such as vacancy registers) are left out
    unless `include_restricted`: their counts stay, their contents are for operators only."""
    row = conn.execute(text("SELECT * FROM harvest_run WHERE id = :id"), {"id": run_id}).first()
    if row is None:
        return None
    details = dict(row._mapping)
    access = conn.execute(
        text("SELECT access FROM source WHERE id = :id"), {"id": row.source_id}
    ).scalar_one()
    if access == "restricted" and not include_restricted:
        details["rejected_records"] = []
        details["repaired_records"] = []
        details["records_withheld"] = True
        return details
    details["rejected_records"] = [
        dict(r._mapping)
        for r in conn.execute(query("rejected_of_run"), {"run_id": run_id, "limit": limit})
    ]
    details["repaired_records"] = [
        dict(r._mapping)
        for r in conn.execute(query("repaired_of_run"), {"run_id": run_id, "limit": limit})
    ]
    return details


def versions(conn: Connection, source_id: str) -> list[dict[str, Any]]:
    """Every dataset version of a source, newest first (data is kept for current ones only)."""
    rows = conn.execute(query("versions_of_source"), {"source_id": source_id})
    return [dict(r._mapping) for r in rows]
