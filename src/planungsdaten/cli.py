"""Command line: one command per job. Exit codes: 0 ok, 1 a job failed, 2 bad input/config."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import Engine

from planungsdaten.db.cluster import cluster_from_settings
from planungsdaten.db.engine import make_engine
from planungsdaten.db.migrate import upgrade
from planungsdaten.errors import InvalidRequestError, PlanungsdatenError
from planungsdaten.harvest.errors import HarvestError, SourceDefinitionError, UnknownSourceError
from planungsdaten.harvest.run import HarvestResult, harvest, latest_runs, versions
from planungsdaten.harvest.sources import SourceDefinition, load_sources
from planungsdaten.packages import jobs
from planungsdaten.packages.request import FORMATS, PackageRequest, parse_request
from planungsdaten.packages.themes import THEMES
from planungsdaten.packages.worker import Worker, worker_name
from planungsdaten.publish.downloads import refresh_downloads
from planungsdaten.security import keys
from planungsdaten.security.identity import Identity
from planungsdaten.settings import Settings

app = typer.Typer(
    help="Planungsdaten auf Knopfdruck: harvest, publish, serve.", no_args_is_help=True
)
db_app = typer.Typer(help="The managed PostgreSQL/PostGIS cluster in .data/postgres.")
app.add_typer(db_app, name="db")
keys_app = typer.Typer(
    help="API keys of planners and operators (stored only as salted hashes).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)
log = logging.getLogger("planungsdaten")


@app.callback()
def main_options(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="more log")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="errors only")] = False,
) -> None:
    """Logging for every command."""
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(
        level=level, format="%(message)s", handlers=[RichHandler(console=console, show_path=False)]
    )
    if verbose < 1:
        for noisy in ("alembic", "pyogrio"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[Settings]:
    """Settings with a database URL: the configured one, or the managed cluster (started
    for the block if it was not running)."""
    if settings.database.url is not None:
        yield settings
        return
    with cluster_from_settings(settings).running() as url:
        yield settings.with_database_url(url)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"Fehler: {message}", err=True)
    return typer.Exit(code)


# -- db ------------------------------------------------------------------------------------


@db_app.command("start")
def db_start() -> None:
    """Start the managed cluster (initialising it on first use) and print its URL."""
    cluster = cluster_from_settings(Settings())
    try:
        cluster.start()
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e
    typer.echo(cluster.url())


@db_app.command("stop")
def db_stop() -> None:
    """Stop the managed cluster (no-op when it is not running)."""
    settings = Settings()
    if not (settings.cluster_dir / "PG_VERSION").exists() and not settings.cluster_dir.is_symlink():
        return
    try:
        cluster_from_settings(settings).stop()
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e


@db_app.command("status")
def db_status() -> None:
    """Whether the managed cluster runs, and where. Exit 3 when it is stopped."""
    cluster = cluster_from_settings(Settings())
    port = cluster.running_port()
    if port is None:
        typer.echo(f"stopped ({cluster.link})")
        raise typer.Exit(3)
    typer.echo(f"running on 127.0.0.1:{port} ({cluster.link})")


@db_app.command("destroy")
def db_destroy() -> None:
    """Stop the managed cluster and delete its data."""
    cluster_from_settings(Settings()).destroy()


# -- schema and harvest --------------------------------------------------------------------


@app.command()
def migrate() -> None:
    """Apply pending database migrations."""
    try:
        with _database(Settings()) as settings:
            upgrade(make_engine(settings.database))
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e


def _select_sources(
    settings: Settings, source_ids: list[str], directory: Path | None
) -> list[SourceDefinition]:
    sources = load_sources(directory or settings.app.harvesters_dir)
    if not source_ids:
        return list(sources.values())
    unknown = [s for s in source_ids if s not in sources]
    if unknown:
        raise UnknownSourceError(
            f"unknown source id(s): {', '.join(unknown)}; known: {', '.join(sorted(sources))}"
        )
    return [sources[s] for s in source_ids]


class _Bar:
    """A rich progress task as a harvest Progress."""

    def __init__(self, bar: Progress, task: TaskID) -> None:
        self.bar, self.task = bar, task

    def start(self, total: int | None) -> None:
        self.bar.update(self.task, total=total)

    def advance(self, count: int) -> None:
        self.bar.advance(self.task, count)


def _harvest_with_progress(
    settings: Settings, sources: list[SourceDefinition], force: bool
) -> list[HarvestResult | HarvestError]:
    engine = make_engine(settings.database)
    outcomes: list[HarvestResult | HarvestError] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        for source in sources:
            task = bar.add_task(source.id, total=None)
            try:
                outcomes.append(
                    harvest(engine, source, settings, force=force, progress=_Bar(bar, task))
                )
            except HarvestError as e:
                outcomes.append(e)
            bar.remove_task(task)
    # bulk downloads of the open datasets follow every harvest that loaded or confirmed data
    if any(isinstance(o, HarvestResult) for o in outcomes):
        _refresh_downloads(engine, settings)
    engine.dispose()
    return outcomes


def _refresh_downloads(engine: Engine, settings: Settings) -> None:
    """Regenerate changed bulk downloads; a failure is logged and never fails the harvest."""
    try:
        with console.status("Downloads werden aktualisiert …"):
            written = refresh_downloads(engine, settings)
    except Exception:
        log.exception("bulk downloads could not be generated (the harvest itself is done)")
        return
    if written:
        log.info("bulk downloads written: %s", ", ".join(f.file_name for f in written))


def _table_console() -> Console:
    # wide enough that ids and messages are not cut when the output goes to a file or pipe
    return Console(width=max(shutil.get_terminal_size((160, 24)).columns, 160))


def _print_outcomes(
    sources: list[SourceDefinition], outcomes: list[HarvestResult | HarvestError]
) -> None:
    """The summary table: one row per source."""
    table = Table(
        "Quelle",
        "Status",
        "gelesen",
        "geladen",
        "abgewiesen",
        "repariert",
        "übersprungen",
        "Hinweis",
        title="Ernte",
    )
    for source, outcome in zip(sources, outcomes, strict=True):
        if isinstance(outcome, HarvestError):
            table.add_row(source.id, "fehlgeschlagen", "", "", "", "", "", str(outcome))
        else:
            table.add_row(
                source.id,
                outcome.status,
                str(outcome.read),
                str(outcome.loaded),
                str(outcome.rejected),
                str(outcome.repaired),
                str(outcome.skipped),
                outcome.message or "",
            )
    _table_console().print(table)


@app.command("harvest")
def harvest_command(
    source_ids: Annotated[list[str] | None, typer.Argument(help="source ids")] = None,
    all_sources: Annotated[
        bool, typer.Option("--all", help="every enabled source in the definitions folder")
    ] = False,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="definitions folder (default: harvesters/)")
    ] = None,
    force: Annotated[bool, typer.Option(help="reload even if the source is unchanged")] = False,
) -> None:
    """Harvest sources into PostGIS. Exit 1 if any harvest failed."""
    base = Settings()
    if not source_ids and not all_sources:
        raise _fail("Quellen-IDs oder --all angeben (Liste: planungsdaten sources)", 2)
    try:
        sources = _select_sources(base, source_ids or [], directory)
        if all_sources and not source_ids:
            sources = [s for s in sources if s.enabled]
        with _database(base) as settings:
            upgrade(make_engine(settings.database))
            outcomes = _harvest_with_progress(settings, sources, force)
    except (SourceDefinitionError, UnknownSourceError) as e:
        raise _fail(str(e), 2) from e
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e
    _print_outcomes(sources, outcomes)
    if any(isinstance(o, HarvestError) for o in outcomes):
        raise typer.Exit(1)


@app.command("sources")
def sources_command(
    directory: Annotated[Path | None, typer.Option("--dir")] = None,
) -> None:
    """List and validate the source definitions. Exit 2 if one is invalid."""
    settings = Settings()
    try:
        sources = load_sources(directory or settings.app.harvesters_dir)
    except SourceDefinitionError as e:
        raise _fail(str(e), 2) from e
    table = Table("id", "Titel", "Zugang", "Ziele", "Protokoll", "Format", "aktiv")
    for s in sources.values():
        table.add_row(
            s.id,
            s.title,
            s.access,
            ", ".join(s.targets),
            s.protocol.type,
            s.format.type,
            "ja" if s.enabled else "nein",
        )
    _table_console().print(table)


@app.command("runs")
def runs_command(
    source_id: Annotated[str | None, typer.Argument(help="only this source")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """The latest harvest runs with their counts and messages."""
    try:
        with _database(Settings()) as settings:
            engine = make_engine(settings.database)
            upgrade(engine)
            with engine.connect() as conn:
                rows = latest_runs(conn, source_id, limit)
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e
    table = Table(
        "Lauf",
        "Quelle",
        "Status",
        "Beginn",
        "gelesen",
        "geladen",
        "abgewiesen",
        "repariert",
        "übersprungen",
        "Meldung",
    )
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["source_id"],
            r["status"],
            f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
            str(r["records_read"]),
            str(r["records_loaded"]),
            str(r["records_rejected"]),
            str(r["records_repaired"]),
            str(r["records_skipped"]),
            r["message"] or "",
        )
    _table_console().print(table)


@app.command("versions")
def versions_command(source_id: Annotated[str, typer.Argument()]) -> None:
    """Every dataset version of a source (data is kept for the current ones)."""
    try:
        with _database(Settings()) as settings:
            engine = make_engine(settings.database)
            upgrade(engine)
            with engine.connect() as conn:
                rows = versions(conn, source_id)
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e
    table = Table("Version", "Tabelle", "Ebene", "Status", "Objekte", "sha256", "veröffentlicht")
    for r in rows:
        published = f"{r['published_at']:%Y-%m-%d %H:%M}" if r["published_at"] else ""
        table.add_row(
            str(r["id"]),
            r["target_table"],
            r["layer"],
            r["status"],
            str(r["feature_count"] or ""),
            r["checksum_sha256"][:12],
            published,
        )
    _table_console().print(table)


# -- packages ------------------------------------------------------------------------------


def _package_request(
    ags: str | None,
    area: Path | None,
    area_crs: str,
    name: str | None,
    themes: list[str] | None,
    crs: str,
    formats: list[str] | None,
) -> PackageRequest:
    body: dict[str, Any] = {"area_crs": area_crs, "output_crs": crs}
    if ags:
        body["ags"] = ags
    if area is not None:
        try:
            body["area"] = json.loads(area.read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise _fail(f"Gebietsdatei {area} nicht lesbar: {e}", 2) from e
    for key, value in (("name", name), ("themes", themes), ("formats", formats)):
        if value:
            body[key] = value
    return parse_request(body)


@app.command("package")
def package_command(
    out: Annotated[Path, typer.Option("--out", help="folder the ZIP is written to")],
    ags: Annotated[str | None, typer.Option(help="Amtlicher Gemeindeschlüssel")] = None,
    area: Annotated[
        Path | None, typer.Option(help="GeoJSON file with the area (Polygon/MultiPolygon)")
    ] = None,
    area_crs: Annotated[str, typer.Option(help="CRS of --area")] = "CRS84",
    name: Annotated[str | None, typer.Option(help="name of the area")] = None,
    theme: Annotated[
        list[str] | None, typer.Option("--theme", help=f"repeatable: {', '.join(THEMES)}")
    ] = None,
    crs: Annotated[str, typer.Option(help="CRS of the layers")] = "EPSG:25832",
    fmt: Annotated[
        list[str] | None, typer.Option("--format", help=f"repeatable: {', '.join(FORMATS)}")
    ] = None,
    include_restricted: Annotated[
        bool,
        typer.Option(help="add the restricted vacancy register (personal data) of the area"),
    ] = False,
) -> None:
    """Build a planning package and write its ZIP to --out. Exit 2 on a bad request."""
    base = Settings()
    try:
        request = _package_request(ags, area, area_crs, name, theme, crs, fmt)
        identity = Identity.operator("cli") if include_restricted else Identity(subject="cli:open")
        with _database(base) as settings:
            engine = make_engine(settings.database)
            upgrade(engine)
            job, cached = jobs.submit(engine, request, identity, settings)
            if not cached:
                job = _build_with_progress(settings, engine, job.id, identity)
            engine.dispose()
    except InvalidRequestError as e:
        raise _fail(str(e), 2) from e
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e
    if job.status != "succeeded" or not job.file_name:
        raise _fail(f"Paket nicht erstellt: {job.error or job.step}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / job.file_name
    shutil.copyfile(jobs.package_path(settings, job.cached_from or job.id), target)
    typer.echo(str(target))
    console.print(
        f"{'aus dem Zwischenspeicher: ' if cached else ''}{target} "
        f"({(job.file_size or 0) / 1e6:.1f} MB, sha256 {job.file_sha256})"
    )


def _build_with_progress(
    settings: Settings, engine: Engine, job_id: str, identity: Identity
) -> jobs.Job:
    """Build the job here, or follow it if a worker took it first."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f} %"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("wartet", total=100)

        def show(percent: int, step: str) -> None:
            bar.update(task, completed=percent, description=step)

        worker = Worker(settings, engine, engine, name=worker_name())
        if worker.run_once(job_id, listener=show) is None:
            while True:  # a worker of the service builds it
                with engine.connect() as conn:
                    job = jobs.get(conn, job_id, identity)
                show(job.progress, job.step)
                if job.status in ("succeeded", "failed"):
                    break
                time.sleep(0.5)
    with engine.connect() as conn:
        return jobs.get(conn, job_id, identity)


@app.command("worker")
def worker_command(
    once: Annotated[bool, typer.Option(help="build at most one job, then exit")] = False,
) -> None:
    """Build queued packages until Ctrl-C (more workers: start more processes, anywhere)."""
    base = Settings()
    try:
        with _database(base) as settings:
            engine = make_engine(settings.database)
            upgrade(engine)
            read_engine = (
                make_engine(settings.database, read_only=True)
                if settings.database.read_url
                else engine
            )
            worker = Worker(settings, engine, read_engine)
            log.info("package worker %s waiting for jobs", worker.name)
            if once:
                worker.run_once()
            else:
                try:
                    worker.run_forever()
                except KeyboardInterrupt:
                    worker.stop.set()
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e


# -- serving -------------------------------------------------------------------------------


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    import uvicorn

    from planungsdaten.app import create_app

    host, port = host or settings.app.host, port or settings.app.port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as e:
            raise _fail(
                f"Port {port} auf {host} ist belegt ({e.strerror}). Läuft der Dienst schon? "
                f"Sonst einen anderen Port wählen: PLANUNGSDATEN_PORT=8001 make run"
            ) from e
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        proxy_headers=True,
        forwarded_allow_ips=settings.limit.forwarded_allow_ips,
        limit_concurrency=settings.limit.max_concurrent_requests,
        timeout_keep_alive=settings.limit.keep_alive_timeout_s,
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: PLANUNGSDATEN_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: PLANUNGSDATEN_PORT")] = None,
) -> None:
    """Serve the API, /ogc and the web page (managed cluster if no database URL is set)."""
    try:
        with _database(Settings()) as settings:
            _serve(settings, host, port)
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e


@app.command()
def run(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """What `make run` does: database, migrations, sample data (unless unchanged), serve.

    Ctrl-C stops the service, then the managed cluster.
    """
    base = Settings()
    try:
        sample = load_sources(base.app.harvesters_dir / "sample").values()
        sources = [s for s in sample if s.enabled]
        with _database(base) as settings:
            upgrade(make_engine(settings.database))
            outcomes = _harvest_with_progress(settings, sources, force=False)
            _print_outcomes(sources, outcomes)
            if any(isinstance(o, HarvestError) for o in outcomes):
                raise _fail("Beispieldaten konnten nicht geladen werden (siehe oben)")
            _serve(settings, host, port)
    except SourceDefinitionError as e:
        raise _fail(str(e), 2) from e
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e


# -- keys ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _migrated_engine() -> Iterator[Engine]:
    with _database(Settings()) as settings:
        engine = make_engine(settings.database)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="whom the key is for, e.g. 'Stadtplanung Mücheln'")],
    role: Annotated[str, typer.Option(help="planner or operator")] = "planner",
    ags: Annotated[
        list[str] | None,
        typer.Option("--ags", help="repeatable: municipality (AGS) whose restricted data it gets"),
    ] = None,
) -> None:
    """Create a key and print it once on stdout; only its salted hash is stored."""
    try:
        with _migrated_engine() as engine, engine.begin() as conn:
            plain = keys.create_key(conn, name, role, ags or [])
    except InvalidRequestError as e:
        raise _fail(str(e), 2) from e
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e
    key_id = plain.split("_")[1]
    console.print(
        f"Schlüssel {key_id} für {name} ({role}"
        f"{', Gemeinden ' + ', '.join(ags) if ags else ''}) angelegt. Er wird nur jetzt "
        "angezeigt: bitte sicher weitergeben."
    )
    typer.echo(plain)


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """Every key with its role, municipalities and state (never the secret)."""
    with _migrated_engine() as engine, engine.connect() as conn:
        found = keys.list_keys(conn)
    if as_json:
        rows = [
            {
                "id": k.id,
                "name": k.name,
                "role": k.role,
                "ags": k.ags,
                "created_at": k.created_at.isoformat(),
                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            }
            for k in found
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("Kennung", "Name", "Rolle", "Gemeinden", "angelegt", "widerrufen")
    for k in found:
        table.add_row(
            k.id,
            k.name,
            k.role,
            ", ".join(k.ags),
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id (see keys list)")],
) -> None:
    """Revoke a key: the next request with it is refused."""
    try:
        with _migrated_engine() as engine, engine.begin() as conn:
            revoked = keys.revoke(conn, key_id)
    except PlanungsdatenError as e:
        raise _fail(str(e)) from e
    console.print(f"Schlüssel {revoked.id} ({revoked.name}) widerrufen.")


def main() -> None:
    """Entry point of the `planungsdaten` command."""
    app()
