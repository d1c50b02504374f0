"""Source definitions: every shipped one validates; broken ones say file, key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from planungsdaten.harvest.errors import SourceDefinitionError
from planungsdaten.harvest.sources import HttpProtocol, load_source, load_sources
from planungsdaten.settings import PROJECT_DIR

VALID = """\
id: test-gemeinden
title: Gemeinden
publisher: Test
licence: http://dcat-ap.de/def/licenses/dl-by-de/2.0
attribution: "© GeoBasis-DE / BKG"
access: open
protocol: {type: file, path: gemeinden.gpkg}
format: {type: gpkg, layer: vg250_gem}
target: municipality
mapping: {ars: ARS}
"""


def test_shipped_definitions_validate() -> None:
    sources = load_sources(PROJECT_DIR / "harvesters")
    assert {"sample-gemeinden", "bkg-vg250-gemeinden"} <= set(sources)
    production = sources["bkg-vg250-gemeinden"]
    assert isinstance(production.protocol, HttpProtocol)
    assert production.protocol.url.startswith("https://daten.gdz.bkg.bund.de/")
    assert production.attribution.startswith("© GeoBasis-DE / BKG")
    assert production.filter.ags_prefix == "15"
    for source in sources.values():
        assert source.access in ("open", "restricted")
        assert source.licence.startswith("http://dcat-ap.de/def/licenses/")


def test_relative_paths_resolve_next_to_the_definition(tmp_path: Path) -> None:
    path = tmp_path / "def.yaml"
    path.write_text(VALID, encoding="utf-8")
    source = load_source(path)
    assert source.resolve(Path("gemeinden.gpkg")) == tmp_path / "gemeinden.gpkg"


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        (
            "licence: http://dcat-ap.de/def/licenses/dl-by-de/2.0",
            "licence: CC-BY",
            "licence",
            "dcat-ap.de licence URI",
        ),
        ("target: municipality", "target: parcels", "", "target 'parcels' unknown"),
        ("mapping: {ars: ARS}", "mapping: {gemeinde: GEN}", "", "unknown field(s) gemeinde"),
        ("mapping: {ars: ARS}", "mapping: {name: GEN}", "", "needs one of ags, ars"),
        ("access: open", "access: public", "access", "'open' or 'restricted'"),
        (
            "protocol: {type: file, path: gemeinden.gpkg}",
            "protocol: {type: ftp, path: x}",
            "protocol",
            "ftp",
        ),
        ("id: test-gemeinden", "id: Test Gemeinden", "id", "should match pattern"),
        (
            "format: {type: gpkg, layer: vg250_gem}",
            "format: {type: gpkg, layr: x}",
            "format.layr",
            "Extra inputs are not permitted",
        ),
    ],
)
def test_invalid_definition_names_file_key_and_problem(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    assert old in VALID
    path = tmp_path / "broken.yaml"
    path.write_text(VALID.replace(old, new), encoding="utf-8")
    with pytest.raises(SourceDefinitionError) as info:
        load_source(path)
    message = str(info.value)
    assert str(path) in message
    assert f"  {key}" in message
    assert problem in message


def test_missing_key_and_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "short.yaml"
    path.write_text(VALID.replace('attribution: "© GeoBasis-DE / BKG"\n', ""), encoding="utf-8")
    with pytest.raises(SourceDefinitionError, match=r"attribution: Field required"):
        load_source(path)
    path.write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(SourceDefinitionError, match="cannot read YAML"):
        load_source(path)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(VALID, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(VALID, encoding="utf-8")
    with pytest.raises(SourceDefinitionError, match="already defined in"):
        load_sources(tmp_path)
