"""Package jobs in PostgreSQL: submit, look up, claim, report progress, finish.

A worker claims a job with `FOR UPDATE SKIP LOCKED` and holds a session advisory lock on
it while it builds. If the worker dies its connection closes and the lock goes with it, so
a `running` job whose lock can be taken belongs to nobody and is built again."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from planungsdaten.db.queries import query
from planungsdaten.errors import ForbiddenError
from planungsdaten.packages.area import ResolvedArea, resolve_area
from planungsdaten.packages.build import BuildSpec, tables_of
from planungsdaten.packages.errors import PackageNotFoundError
from planungsdaten.packages.request import PackageRequest, canonical_json
from planungsdaten.packages.themes import LAYERS
from planungsdaten.security.access import restricted_municipalities
from planungsdaten.security.identity import Identity
from planungsdaten.settings import Settings

SQL = "planungsdaten.packages"
# bump when the builder's output changes, so cached packages of older code are not reused
BUILD_FORMAT = 1
LOCK_CLASS = 84_117  # first key of the advisory locks of package jobs


@dataclass(frozen=True)
class Job:
    """A row of `package_job` as callers see it."""

    id: str
    owner: str
    status: str
    progress: int
    step: str
    request: dict[str, Any]
    area_name: str
    ags: list[str]
    restricted_ags: list[str]
    attempts: int
    cached_from: str | None
    file_name: str | None
    file_size: int | None
    file_sha256: str | None
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        data = dict(row)
        data["id"] = str(data["id"])
        data["cached_from"] = str(data["cached_from"]) if data["cached_from"] else None
        data["restricted_ags"] = list(data["restricted_ags"] or [])
        data["ags"] = list(data["ags"])
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def package_path(settings: Settings, job_id: str) -> Path:
    """Where the ZIP of a job is kept."""
    return settings.package_dir / f"{job_id}.zip"


def package_identifier(
    request: PackageRequest, area: ResolvedArea, restricted_ags: list[str]
) -> str:
    """Names the package independent of the data's versions (its editions share it)."""
    content = {
        "area": hashlib.sha256(area.wkb).hexdigest(),
        "themes": request.themes,
        "restricted_ags": restricted_ags,
    }
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()[:32]


def cache_key(
    request: PackageRequest, area: ResolvedArea, restricted_ags: list[str], versions: list[int]
) -> str:
    """Identifies the content: the same key means the same package."""
    content = {
        "format": BUILD_FORMAT,
        "area": hashlib.sha256(area.wkb).hexdigest(),
        "area_name": area.name,
        "themes": request.themes,
        "formats": request.formats,
        "output_crs": request.output_crs,
        "restricted_ags": restricted_ags,
        "versions": versions,
    }
    return hashlib.sha256(canonical_json(content).encode()).hexdigest()


def _restricted_ags(request: PackageRequest, area: ResolvedArea, identity: Identity) -> list[str]:
    """The municipalities whose restricted layers go into the package. `restricted: true`
    asks for all of the area's and is refused unless the caller may receive every one."""
    if request.restricted is False or not restricted_layers(request.themes):
        return []
    allowed = restricted_municipalities(identity, area.ags)
    refused = sorted(set(area.ags) - set(allowed))
    if request.restricted and refused:
        if identity.role == "anonymous":
            reason = "ohne Schlüssel gibt es nur die zusammengefassten Leerstandsdaten"
        else:
            bound = ", ".join(sorted(identity.ags)) or "keine Gemeinde"
            reason = f"der Schlüssel von {identity.display_name} gilt für: {bound}"
        raise ForbiddenError(
            "Kein Zugriff auf die Einzeldaten des Leerstandskatasters der Gemeinde(n) "
            f'{", ".join(refused)}: {reason}. Ohne "restricted": true enthält das Paket '
            "die zusammengefassten Werte."
        )
    return allowed


def restricted_layers(themes: list[str]) -> list[str]:
    """The restricted (personal-data) layers the themes would bring."""
    return [name for name, info in LAYERS.items() if info.restricted and info.theme in themes]


def _log_restricted(
    conn: Connection, job: Job, identity: Identity, client_address: str | None
) -> None:
    """Every package with restricted data is logged: who, when, which municipalities, layers."""
    conn.execute(
        query("restricted_access_insert", SQL),
        {
            "subject": identity.subject,
            "role": identity.role,
            "job": uuid.UUID(job.id),
            "ags": job.restricted_ags,
            "layers": restricted_layers(list(job.request.get("themes", []))),
            "area_name": job.area_name,
            "client": client_address,
        },
    )


def submit(
    engine: Engine,
    request: PackageRequest,
    identity: Identity,
    settings: Settings,
    client_address: str | None = None,
) -> tuple[Job, bool]:
    """Queue a package, or return the finished one with identical content at once.
    Returns the job and whether it came from the cache."""
    with engine.begin() as conn:
        job, cached = _submit(conn, request, identity, settings, client_address)
        if job.restricted_ags:
            _log_restricted(conn, job, identity, client_address)
        return job, cached


def _submit(
    conn: Connection,
    request: PackageRequest,
    identity: Identity,
    settings: Settings,
    client_address: str | None,
) -> tuple[Job, bool]:
    area = resolve_area(conn, request, settings.package)
    restricted = _restricted_ags(request, area, identity)
    versions = sorted(
        conn.execute(query("current_version_ids", SQL), {"tables": tables_of(request.themes)})
        .scalars()
        .all()
    )
    key = cache_key(request, area, restricted, versions)
    for row in conn.execute(query("job_cached", SQL), {"key": key}).mappings():
        if package_path(settings, str(row["id"])).is_file():
            job_id = conn.execute(
                query("job_insert_cached", SQL),
                {
                    "id": uuid.uuid4(),
                    "owner": identity.subject,
                    "from": row["id"],
                    "client": client_address,
                },
            ).scalar_one()
            return get(conn, str(job_id), identity), True
    same = conn.execute(
        query("job_in_progress", SQL), {"key": key, "owner": identity.subject}
    ).scalar_one_or_none()
    if same is not None:
        return get(conn, str(same), identity), False
    job_id = conn.execute(
        query("job_insert", SQL),
        {
            "id": uuid.uuid4(),
            "owner": identity.subject,
            "key": key,
            "request": canonical_json(request.model_dump(mode="json")),
            "area_name": area.name,
            "wkb": area.wkb,
            "ags": area.ags,
            "restricted": restricted,
            "versions": canonical_json(versions),
            "client": client_address,
        },
    ).scalar_one()
    conn.execute(text("NOTIFY package_job"))
    return get(conn, str(job_id), identity), False


def get(conn: Connection, job_id: str, identity: Identity) -> Job:
    """The job `job_id` if `identity` may see it (its owner or an operator)."""
    try:
        key = uuid.UUID(job_id)
    except ValueError as e:
        raise PackageNotFoundError(job_id) from e
    row = conn.execute(query("job_get", SQL), {"id": key}).mappings().one_or_none()
    if row is None or (identity.role != "operator" and row["owner"] != identity.subject):
        raise PackageNotFoundError(job_id)
    return Job.from_row(row)


def list_jobs(conn: Connection, identity: Identity, limit: int = 50) -> list[Job]:
    """The caller's packages, newest first."""
    rows = conn.execute(query("job_list", SQL), {"owner": identity.subject, "limit": limit})
    return [Job.from_row(r) for r in rows.mappings()]


def claim(
    conn: Connection, worker: str, max_attempts: int, job_id: str | None = None
) -> tuple[Job, BuildSpec] | None:
    """Take the oldest waiting (or orphaned) job, or `job_id`, and hold its advisory lock on
    `conn` until `release`. `conn` must be in autocommit mode."""
    with conn.begin():
        rows = (
            conn.execute(
                query("job_candidates", SQL), {"id": uuid.UUID(job_id) if job_id else None}
            )
            .mappings()
            .all()
        )
        for row in rows:
            locked = conn.execute(
                text("SELECT pg_try_advisory_lock(:c, hashtext(:id))"),
                {"c": LOCK_CLASS, "id": str(row["id"])},
            ).scalar_one()
            if not locked:
                continue  # a live worker builds it
            if row["attempts"] >= max_attempts:
                conn.execute(
                    query("job_fail", SQL),
                    {
                        "id": row["id"],
                        "error": (
                            f"Die Erstellung wurde {row['attempts']}-mal abgebrochen (z. B. durch "
                            "einen Neustart); bitte das Paket erneut anfordern."
                        ),
                    },
                )
                release(conn, str(row["id"]))
                continue
            conn.execute(query("job_start", SQL), {"id": row["id"], "worker": worker})
            job = Job.from_row(
                conn.execute(query("job_get", SQL), {"id": row["id"]}).mappings().one()
            )
            return job, spec_of(conn, job, row)
    return None


def spec_of(conn: Connection, job: Job, row: Any) -> BuildSpec:
    """The build spec stored with a claimed job."""
    request = PackageRequest.model_validate(job.request)
    names = conn.execute(
        text(
            "SELECT coalesce(array_agg(n ORDER BY o), '{}') FROM (SELECT DISTINCT ON (ags) "
            "coalesce(name, ags) AS n, array_position(:ags, ags::text) AS o FROM municipality "
            "WHERE ags = ANY(:ags) ORDER BY ags, dataset_version_id DESC) m"
        ),
        {"ags": job.ags},
    ).scalar_one()
    area = ResolvedArea(
        name=job.area_name,
        wkb=bytes(row["wkb"]),
        ags=job.ags,
        municipality_names=list(names) or job.ags,
        area_m2=float(row["area_m2"]),
    )
    return BuildSpec(
        identifier=package_identifier(request, area, job.restricted_ags),
        request=request,
        area=area,
        restricted_ags=job.restricted_ags,
    )


def set_progress(conn: Connection, job_id: str, percent: int, step: str) -> None:
    conn.execute(
        query("job_progress", SQL), {"id": uuid.UUID(job_id), "progress": percent, "step": step}
    )


def finish(
    conn: Connection,
    job_id: str,
    key: str,
    file_name: str,
    size: int,
    sha256: str,
    versions: list[int],
) -> None:
    """Mark a job done; `key` is the cache key of the versions actually used."""
    conn.execute(
        query("job_finish", SQL),
        {
            "id": uuid.UUID(job_id),
            "key": key,
            "file_name": file_name,
            "size": size,
            "sha256": sha256,
            "versions": canonical_json(versions),
        },
    )


def fail(conn: Connection, job_id: str, error: str) -> None:
    conn.execute(query("job_fail", SQL), {"id": uuid.UUID(job_id), "error": error})


def requeue(conn: Connection, job_id: str) -> None:
    """Back to the queue without counting the attempt (the worker was stopped)."""
    conn.execute(query("job_requeue", SQL), {"id": uuid.UUID(job_id)})


def release(conn: Connection, job_id: str) -> None:
    conn.execute(
        text("SELECT pg_advisory_unlock(:c, hashtext(:id))"), {"c": LOCK_CLASS, "id": job_id}
    )
