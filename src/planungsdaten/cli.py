"""Command line: one command per job. Exit codes: 0 ok, 1 a job failed, 2 bad input/config."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

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

from planungsdaten.db.cluster import cluster_from_settings
from planungsdaten.db.engine import make_engine
from planungsdaten.db.migrate import upgrade
from planungsdaten.errors import PlanungsdatenError
from planungsdaten.harvest.errors import HarvestError, SourceDefinitionError, UnknownSourceError
from planungsdaten.harvest.run import HarvestResult, harvest
from planungsdaten.harvest.sources import SourceDefinition, load_sources
from planungsdaten.settings import Settings

app = typer.Typer(
    help="Planungsdaten auf Knopfdruck: harvest, publish, serve.", no_args_is_help=True
)
db_app = typer.Typer(help="The managed PostgreSQL/PostGIS cluster in .data/postgres.")
app.add_typer(db_app, name="db")
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
        logging.getLogger("alembic").setLevel(logging.WARNING)


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
    engine.dispose()
    return outcomes


def _print_outcomes(
    sources: list[SourceDefinition], outcomes: list[HarvestResult | HarvestError]
) -> None:
    """One line per source, readable by people and by scripts."""
    for source, outcome in zip(sources, outcomes, strict=True):
        if isinstance(outcome, HarvestError):
            typer.echo(f"{source.id}: fehlgeschlagen: {outcome}")
        else:
            typer.echo(
                f"{source.id}: {outcome.status} ({outcome.read} gelesen, {outcome.loaded} "
                f"geladen, {outcome.rejected} abgewiesen, {outcome.skipped} übersprungen)"
            )


@app.command("harvest")
def harvest_command(
    source_ids: Annotated[list[str] | None, typer.Argument(help="source ids; none = all")] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="definitions folder (default: harvesters/)")
    ] = None,
    force: Annotated[bool, typer.Option(help="reload even if the source is unchanged")] = False,
) -> None:
    """Harvest sources into PostGIS. Exit 1 if any harvest failed."""
    base = Settings()
    try:
        sources = _select_sources(base, source_ids or [], directory)
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
    for s in sources.values():
        typer.echo(f"{s.id}\t{s.access}\t{s.target}\t{s.title}")


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
        sources = list(load_sources(base.app.harvesters_dir / "sample").values())
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


def main() -> None:
    """Entry point of the `planungsdaten` command."""
    app()
