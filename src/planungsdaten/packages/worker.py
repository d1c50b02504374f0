"""Workers that build queued packages: threads of the service, or `planungsdaten worker`
processes on any machine that reaches the database and the package folder."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from planungsdaten.errors import PlanungsdatenError
from planungsdaten.packages import jobs
from planungsdaten.packages.build import BuildSpec, build_package
from planungsdaten.packages.errors import BuildInterruptedError
from planungsdaten.settings import Settings

log = logging.getLogger(__name__)
Listener = Callable[[int, str], None]


def worker_name(index: int = 0) -> str:
    """host:pid:index, shown in the job table."""
    return f"{socket.gethostname()}:{os.getpid()}:{index}"


@dataclass
class Worker:
    """Claims jobs and builds them, one at a time."""

    settings: Settings
    engine: Engine
    read_engine: Engine
    name: str = field(default_factory=worker_name)
    stop: threading.Event = field(default_factory=threading.Event)

    def run_once(self, job_id: str | None = None, listener: Listener | None = None) -> str | None:
        """Build one waiting job (or `job_id`); returns its id, or None if there was none."""
        with self.engine.connect() as raw:
            conn = raw.execution_options(isolation_level="AUTOCOMMIT")
            claimed = jobs.claim(conn, self.name, self.settings.package.max_attempts, job_id)
            if claimed is None:
                return None
            job, spec = claimed
            try:
                self._build(conn, job.id, spec, listener)
            finally:
                jobs.release(conn, job.id)
            return job.id

    def _build(
        self, conn: Connection, job_id: str, spec: BuildSpec, listener: Listener | None
    ) -> None:
        settings = self.settings
        spec = BuildSpec(
            identifier=spec.identifier,
            request=spec.request,
            area=spec.area,
            restricted_ags=spec.restricted_ags,
            traffic_radius_m=settings.package.traffic_radius_m,
            vacancy_min_count=settings.harvest.vacancy_min_count,
            public_url=settings.app.public_url,
            rasters_dir=settings.rasters_dir,
        )

        def progress(percent: int, step: str) -> None:
            if self.stop.is_set():
                raise BuildInterruptedError("worker stopping")
            jobs.set_progress(conn, job_id, percent, step)
            if listener is not None:
                listener(percent, step)

        log.info("building package %s (%s)", job_id, spec.area.name)
        started = time.monotonic()
        out = jobs.package_path(settings, job_id)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.read_engine.connect() as data:
                built = build_package(data, spec, out, progress)
        except BuildInterruptedError:
            log.info("package %s interrupted; back to the queue", job_id)
            jobs.requeue(conn, job_id)
            return
        except PlanungsdatenError as e:
            log.warning("package %s failed: %s", job_id, e)
            jobs.fail(conn, job_id, str(e))
            return
        except Exception:
            log.exception("package %s failed", job_id)
            jobs.fail(
                conn,
                job_id,
                "Interner Fehler beim Erstellen des Pakets; der Betrieb "
                "wurde benachrichtigt. Bitte später erneut anfordern.",
            )
            return
        key = jobs.cache_key(spec.request, spec.area, spec.restricted_ags, built.versions)
        jobs.finish(conn, job_id, key, built.file_name, built.size, built.sha256, built.versions)
        if listener is not None:
            listener(100, "fertig")
        log.info(
            "package %s built in %.1f s: %s bytes", job_id, time.monotonic() - started, built.size
        )

    def run_forever(self) -> None:
        """Poll for jobs until `stop` is set; database outages are waited out."""
        while not self.stop.is_set():
            try:
                ran = self.run_once()
            except Exception:
                log.exception("package worker %s: claiming failed; retrying", self.name)
                ran = None
            if ran is None:
                self.stop.wait(self.settings.package.poll_interval_s)


class WorkerPool:
    """The service's in-process workers (threads), stopped with the service."""

    def __init__(self, settings: Settings, engine: Engine, read_engine: Engine) -> None:
        self.workers = [
            Worker(settings, engine, read_engine, name=worker_name(i))
            for i in range(settings.package.workers)
        ]
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for worker in self.workers:
            thread = threading.Thread(
                target=worker.run_forever, name=f"package-{worker.name}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask every worker to stop; a build in progress goes back to the queue."""
        for worker in self.workers:
            worker.stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
