"""The real VG250 extract (../shared/fixtures): 10,990 municipalities, 218 in Sachsen-Anhalt."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import FileProtocol, Format, Layer, SourceDefinition
from planungsdaten.settings import Settings

FIXTURE = "real/vg250/VG250_GEM_simplified_2022.zip"


@pytest.fixture
def vg250(shared_fixtures: Path) -> SourceDefinition:
    return SourceDefinition(
        id="vg250-test",
        title="VG250 Gemeinden (vereinfacht, 2022)",
        publisher="BKG",
        licence="http://dcat-ap.de/def/licenses/dl-by-de/2.0",
        attribution="© GeoBasis-DE / BKG (2022)",
        access="open",
        protocol=FileProtocol(type="file", path=shared_fixtures / FIXTURE),
        format=Format(type="shapefile"),
        layers=[Layer(target="municipality", mapping={"ars": "ARS"})],
    )


def test_all_of_germany_with_218_in_sachsen_anhalt(
    engine: Engine, settings: Settings, vg250: SourceDefinition
) -> None:
    result = harvest(engine, vg250, settings)
    assert (result.read, result.loaded, result.rejected) == (10_990, 10_990, 0)
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM municipality WHERE ags LIKE '15%'")
        ).scalar_one()
        muecheln = conn.execute(
            text(
                "SELECT ars, district, ST_Area(geom) / 1e6 AS km2 FROM municipality "
                "WHERE ags = '15088235'"
            )
        ).one()
        halle = conn.execute(
            text("SELECT ars FROM municipality WHERE ags = '15002000'")
        ).scalar_one()
    assert count == 218
    assert muecheln.ars == "150880235235" and muecheln.district == "Saalekreis"
    assert 80 < muecheln.km2 < 160  # Mücheln (Geiseltal) covers about 143 km²
    assert halle == "150020000000"


def test_filter_keeps_sachsen_anhalt_only(
    engine: Engine, settings: Settings, vg250: SourceDefinition
) -> None:
    only_st = vg250.model_copy(
        update={"filter": vg250.filter.model_copy(update={"ags_prefix": "15"})}
    )
    result = harvest(engine, only_st, settings)
    assert (result.loaded, result.skipped, result.rejected) == (218, 10_990 - 218, 0)
    with engine.connect() as conn:
        harzgerode = conn.execute(
            text("SELECT ags FROM municipality WHERE ars = '150850145145'")
        ).scalar_one()
        verband = conn.execute(
            text(
                "SELECT count(*) FROM municipality "
                "WHERE substr(ars, 6, 4) <> '0' || substr(ars, 10, 3)"
            )
        ).scalar_one()
    assert harzgerode == "15085145"
    assert verband > 0  # members of Verbandsgemeinden: AGS is not a plain prefix of the ARS
