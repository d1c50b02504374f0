"""The command line, as an operator would call it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from planungsdaten.cli import app
from planungsdaten.settings import PROJECT_DIR


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PLANUNGSDATEN_DATABASE_URL": database_url,
        "PLANUNGSDATEN_DATA_DIR": str(tmp_path / "data"),
    }


def test_harvest_command_loads_and_reports(
    definitions: Path, env: dict[str, str], engine: Engine
) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["harvest", "--all", "--dir", str(definitions)], env=env)
    assert result.exit_code == 0, result.output
    assert "sample-gemeinden" in result.output and "succeeded" in result.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM municipality")).scalar_one() == 8
    again = runner.invoke(app, ["harvest", "sample-gemeinden", "--dir", str(definitions)], env=env)
    assert again.exit_code == 0 and "unchanged" in again.output


def test_unknown_source_exits_2(definitions: Path, env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["harvest", "gibtsnicht", "--dir", str(definitions)], env=env)
    assert result.exit_code == 2
    assert "unknown source id(s): gibtsnicht" in result.output


def test_failed_harvest_exits_1(definitions: Path, env: dict[str, str]) -> None:
    path = definitions / "gemeinden.yaml"
    content = path.read_text("utf-8")
    path.write_text(content.replace("path: /", "path: /nicht/da/"), "utf-8")
    result = CliRunner().invoke(app, ["harvest", "--all", "--dir", str(definitions)], env=env)
    assert result.exit_code == 1
    assert "fehlgeschlagen" in result.output


def test_invalid_definition_exits_2(definitions: Path, env: dict[str, str]) -> None:
    (definitions / "kaputt.yaml").write_text("id: kaputt\n", "utf-8")
    result = CliRunner().invoke(app, ["sources", "--dir", str(definitions)], env=env)
    assert result.exit_code == 2
    assert "kaputt.yaml" in result.output and "Field required" in result.output


def test_installed_entry_point_runs() -> None:
    exe = shutil.which("planungsdaten", path=str(Path(sys.executable).parent))
    assert exe, "the planungsdaten command is not installed in the environment"
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True)
    assert "harvest" in result.stdout and "serve" in result.stdout


def test_find_python_script_finds_312_or_newer() -> None:
    result = subprocess.run(
        ["bash", str(PROJECT_DIR / "scripts" / "find-python.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    python = result.stdout.strip()
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info >= (3, 12))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == "True"


def test_serve_on_a_busy_port_says_so(env: dict[str, str], live_port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", live_port))
        busy.listen()
        result = CliRunner().invoke(app, ["serve", "--port", str(live_port)], env=env)
    assert result.exit_code == 1
    assert f"Port {live_port} auf 127.0.0.1 ist belegt" in result.output


def test_runs_and_versions_commands(definitions: Path, env: dict[str, str]) -> None:
    runner = CliRunner()
    runner.invoke(app, ["harvest", "--all", "--dir", str(definitions)], env=env)
    runner.invoke(app, ["harvest", "--all", "--force", "--dir", str(definitions)], env=env)
    runs = runner.invoke(app, ["runs", "sample-gemeinden"], env=env)
    assert runs.exit_code == 0, runs.output
    assert runs.output.count("sample-gemeinden") == 2 and "succeeded" in runs.output
    versions = runner.invoke(app, ["versions", "sample-gemeinden"], env=env)
    assert versions.exit_code == 0
    assert "current" in versions.output and "superseded" in versions.output


def test_harvest_without_ids_or_all_is_a_usage_error(env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["harvest"], env=env)
    assert result.exit_code == 2 and "--all" in result.output
