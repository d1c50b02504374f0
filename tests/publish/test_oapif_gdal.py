"""A real OGC API client: GDAL's OAPIF driver (as QGIS uses it) over HTTP."""

from __future__ import annotations

import pyogrio
from sqlalchemy import Engine

from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import SourceDefinition
from planungsdaten.settings import Settings
from sample_data.generate import MUNICIPALITIES
from tests.conftest import LiveServer


def test_gdal_reads_every_feature(
    engine: Engine, settings: Settings, sample_source: SourceDefinition, live_port: int
) -> None:
    harvest(engine, sample_source, settings)
    env = {
        "PLANUNGSDATEN_DATABASE_URL": settings.database.url.get_secret_value(),  # type: ignore[union-attr]
        "PLANUNGSDATEN_PUBLIC_URL": f"http://127.0.0.1:{live_port}",
        "PLANUNGSDATEN_DATA_DIR": str(settings.app.data_dir),
    }
    with LiveServer(live_port, env) as server:
        layers = pyogrio.list_layers(f"OAPIF:{server.url}/ogc")
        assert "municipalities" in layers[:, 0]
        frame = pyogrio.read_dataframe(f"OAPIF:{server.url}/ogc", layer="municipalities")
    assert len(frame) == len(MUNICIPALITIES)
    assert set(frame["ags"]) == {ags for ags, *_ in MUNICIPALITIES}
    assert frame.crs is not None
    muecheln = frame.set_index("ags").loc["15088235"]
    assert muecheln["name"] == "Mücheln (Geiseltal)"
    # whatever CRS GDAL picked, the geometry lands where Mücheln is
    centre = frame.set_index("ags").to_crs(25832).loc["15088235"].geometry.centroid
    assert 680_000 < centre.x < 705_000 and 5_680_000 < centre.y < 5_700_000
