"""One harvest run: fetch, stream, map, COPY to staging, swap atomically, record the run.

Readers see the previous version or the new one, never a mix: the old rows are replaced
inside one transaction. A failed run leaves the previous version served and is recorded,
with its message, in `harvest_run`; every record that was not loaded is in
`rejected_record` with its reason (read = loaded + rejected + skipped).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg import sql
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from planungsdaten.db.copy import copy_rows, driver_connection
from planungsdaten.db.queries import query
from planungsdaten.harvest.errors import ConflictError, HarvestError, NothingLoadedError
from planungsdaten.harvest.fetch import Fetched, fetch
from planungsdaten.harvest.sources import SourceDefinition
from planungsdaten.harvest.targets import TARGETS, Rejection, Target
from planungsdaten.harvest.vector import count_features, read_batches
from planungsdaten.settings import Settings

log = logging.getLogger(__name__)


class Progress(Protocol):
    """Receives the number of records to expect (None if unknown), then batch sizes."""

    def start(self, total: int | None) -> None: ...

    def advance(self, count: int) -> None: ...


@dataclass(frozen=True)
class HarvestResult:
    """What a run did, as recorded in `harvest_run`."""

    run_id: int
    source_id: str
    status: str
    version_id: int | None
    read: int
    loaded: int
    rejected: int
    skipped: int
    message: str | None = None


@dataclass
class _Counts:
    read: int = 0
    loaded: int = 0
    rejected: int = 0
    skipped: int = 0


def definition_sha256(source: SourceDefinition) -> str:
    """Fingerprint of the definition: a changed mapping reloads an unchanged file."""
    payload = source.model_dump_json(exclude={"path"})
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
            "target_table": source.target,
            "hvd_category": source.hvd_category,
            "schedule": source.schedule,
            "definition": source.model_dump_json(exclude={"path"}),
            "definition_path": str(source.path) if source.path else None,
        },
    )


def _record_rejections(book: Connection, run_id: int, rejections: Sequence[Rejection]) -> None:
    if rejections:
        book.execute(
            query("insert_rejected"),
            [
                {
                    "run_id": run_id,
                    "ref": r.ref,
                    "reason": r.reason,
                    "record": json.dumps(r.record, ensure_ascii=False),
                }
                for r in rejections
            ],
        )


def _stage_name(target: Target) -> str:
    return f"stage_{target.table}"


def _load(
    conn: Connection,
    book: Connection,
    run_id: int,
    source: SourceDefinition,
    target: Target,
    fetched: Fetched,
    settings: Settings,
    counts: _Counts,
    progress: Progress | None,
) -> int:
    """Everything inside the load transaction; returns the new dataset_version id."""
    version_id = int(
        conn.execute(
            query("insert_version"),
            {
                "source_id": source.id,
                "checksum": fetched.sha256,
                "definition_sha256": definition_sha256(source),
                "raw_path": str(fetched.path),
            },
        ).scalar_one()
    )
    raw = driver_connection(conn)
    table = sql.Identifier(target.table)
    stage = sql.Identifier(_stage_name(target))
    key = sql.Identifier(target.key)
    raw.execute(
        sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
            stage, table
        )
    )
    if progress is not None:
        progress.start(count_features(fetched.path, source.format))
    for frame in read_batches(fetched.path, source.format, source.crs, settings.harvest.batch_size):
        mapped = target.map_batch(frame, source, counts.read)
        counts.read += len(frame)
        counts.skipped += mapped.skipped
        counts.rejected += len(mapped.rejections)
        _record_rejections(book, run_id, mapped.rejections)
        copy_rows(
            raw,
            _stage_name(target),
            target.columns,
            target.copy_types,
            ((*row, version_id) for row in mapped.rows),
        )
        if progress is not None:
            progress.advance(len(frame))

    # the same key twice in one source: keep the first, reject the others
    duplicates = raw.execute(
        sql.SQL(
            "DELETE FROM {stage} s USING (SELECT ctid, row_number() OVER "
            "(PARTITION BY {key} ORDER BY ctid) AS n FROM {stage}) d "
            "WHERE s.ctid = d.ctid AND d.n > 1 RETURNING s.{key}"
        ).format(stage=stage, key=key)
    ).fetchall()
    dup_rejections = [
        Rejection(
            f"{target.key.upper()} {k}",
            f"{target.key.upper()} {k} kommt in der Quelle mehrfach vor; "
            "das erste Objekt wurde übernommen",
            {target.key: str(k)},
        )
        for (k,) in duplicates
    ]
    counts.rejected += len(dup_rejections)
    _record_rejections(book, run_id, dup_rejections)

    conn.execute(
        text(
            f"DELETE FROM {target.table} WHERE dataset_version_id IN "
            "(SELECT id FROM dataset_version WHERE source_id = :source_id)"
        ),
        {"source_id": source.id},
    )
    clashes = raw.execute(
        sql.SQL(
            "SELECT s.{key}, v.source_id FROM {stage} s JOIN {table} t USING ({key}) "
            "JOIN dataset_version v ON v.id = t.dataset_version_id ORDER BY 1 LIMIT 5"
        ).format(stage=stage, table=table, key=key)
    ).fetchall()
    if clashes:
        listed = ", ".join(f"{k} (Quelle '{s}')" for k, s in clashes)
        raise ConflictError(
            f"Quelle '{source.id}': {target.key.upper()} bereits von einer anderen Quelle "
            f"geladen: {listed}. Eine der Quellen einschränken (filter) oder entfernen."
        )
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in target.columns)
    raw.execute(
        sql.SQL("INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage}").format(
            table=table, cols=columns, stage=stage
        )
    )
    loaded = raw.execute(sql.SQL("SELECT count(*) FROM {}").format(stage)).fetchone()
    counts.loaded = int(loaded[0]) if loaded else 0
    if counts.loaded == 0:
        raise NothingLoadedError(
            f"Quelle '{source.id}': kein einziges Objekt übernommen ({counts.read} gelesen, "
            f"{counts.rejected} abgewiesen, {counts.skipped} außerhalb des Filters); "
            "die bisherigen Daten bleiben bestehen"
        )
    # ST_Extent yields a box without SRID: state the storage SRID in the EWKT
    extent = raw.execute(
        sql.SQL(
            "SELECT 'SRID=25832;' || ST_AsText(ST_Envelope(ST_Extent(geom)::geometry)) FROM {}"
        ).format(stage)
    ).fetchone()
    conn.execute(query("supersede_versions"), {"source_id": source.id})
    conn.execute(
        query("publish_version"),
        {
            "version_id": version_id,
            "feature_count": counts.loaded,
            "extent": extent[0] if extent else None,
        },
    )
    return version_id


def harvest(
    engine: Engine,
    source: SourceDefinition,
    settings: Settings,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> HarvestResult:
    """Harvest one source; raises a HarvestError subclass after recording a failed run."""
    target = TARGETS[source.target]
    counts = _Counts()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as book:
        register_source(book, source)
        run_id = int(book.execute(query("start_run"), {"source_id": source.id}).scalar_one())

        def finish(
            status: str, version_id: int | None, checksum: str | None, message: str | None
        ) -> HarvestResult:
            book.execute(
                query("finish_run"),
                {
                    "run_id": run_id,
                    "status": status,
                    "checksum": checksum,
                    "version_id": version_id,
                    "read": counts.read,
                    "loaded": counts.loaded,
                    "rejected": counts.rejected,
                    "skipped": counts.skipped,
                    "message": message,
                },
            )
            return HarvestResult(
                run_id,
                source.id,
                status,
                version_id,
                counts.read,
                counts.loaded,
                counts.rejected,
                counts.skipped,
                message,
            )

        fetched: Fetched | None = None
        try:
            fetched = fetch(source, settings.raw_dir, settings.harvest)
            current = book.execute(query("current_version"), {"source_id": source.id}).first()
            if (
                not force
                and current is not None
                and current.checksum_sha256 == fetched.sha256
                and current.definition_sha256 == definition_sha256(source)
            ):
                log.info("%s: unchanged (sha256 %s), skipped", source.id, fetched.sha256[:12])
                return finish("unchanged", int(current.id), fetched.sha256, "Quelle unverändert")
            with engine.begin() as conn:
                version_id = _load(
                    conn, book, run_id, source, target, fetched, settings, counts, progress
                )
        except HarvestError as e:
            finish("failed", None, fetched.sha256 if fetched else None, str(e))
            raise
        except DBAPIError as e:
            message = f"Quelle '{source.id}': Datenbankfehler beim Laden: {e.orig}"
            finish("failed", None, fetched.sha256 if fetched else None, message)
            raise HarvestError(message) from e
        except Exception as e:
            # recorded so that no run stays 'running'; the caller still sees the original error
            finish(
                "failed", None, fetched.sha256 if fetched else None, f"Unerwarteter Fehler: {e!r}"
            )
            raise
        log.info(
            "%s: version %d, %d read, %d loaded, %d rejected, %d skipped",
            source.id,
            version_id,
            counts.read,
            counts.loaded,
            counts.rejected,
            counts.skipped,
        )
        return finish("succeeded", version_id, fetched.sha256, None)


def latest_runs(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The most recent harvest runs, newest first."""
    rows = conn.execute(
        text(
            "SELECT id, source_id, status, started_at, finished_at, records_read, "
            "records_loaded, records_rejected, records_skipped, message "
            "FROM harvest_run ORDER BY id DESC LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [dict(r._mapping) for r in rows]
