"""The layers of a package: canonical tables selected or clipped to the area (EPSG:25832)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Connection

from planungsdaten.db.queries import query
from planungsdaten.packages.flood import label_zones
from planungsdaten.packages.model import PackageLayer
from planungsdaten.packages.themes import LAYERS

SQL = "planungsdaten.packages"
STORAGE_CRS = "EPSG:25832"
GRID_LAYER_RESOLUTION_M = 100


def frame(conn: Connection, name: str, params: dict[str, Any]) -> gpd.GeoDataFrame:
    """Rows of `sql/<name>.sql` as a GeoDataFrame; the query returns its geometry as `wkb`."""
    result = conn.execute(query(name, SQL), params)
    columns = [c for c in result.keys() if c != "wkb"]  # noqa: SIM118 (rows, not keys)
    rows = result.mappings().all()
    data = pd.DataFrame({c: [r[c] for r in rows] for c in columns}, columns=columns)
    geometry = shapely.from_wkb([bytes(r["wkb"]) for r in rows]) if rows else []
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=STORAGE_CRS))


def _layer(name: str, data: gpd.GeoDataFrame) -> PackageLayer:
    info = LAYERS[name]
    return PackageLayer(info.name, info.title, info.theme, data, info.restricted)


def area_layer(name: str, wkb: bytes, area_m2: float) -> PackageLayer:
    """The area itself, one feature."""
    data = gpd.GeoDataFrame(
        {"name": [name], "flaeche_ha": [round(area_m2 / 1e4, 4)]},
        geometry=gpd.GeoSeries(shapely.from_wkb([wkb]), crs=STORAGE_CRS),
    )
    return _layer("untersuchungsgebiet", data)


def grid_layer(conn: Connection, area: bytes) -> PackageLayer:
    """The 100 m Zensus cells overlapping the area, one column per indicator."""
    params = {"area": area, "resolution": GRID_LAYER_RESOLUTION_M}
    cells = frame(conn, "grid_cells", params)
    values = conn.execute(query("grid_values", SQL), params).mappings().all()
    data = gpd.GeoDataFrame(
        {
            "gitter_id": cells["cell_id"],
            "anteil_im_gebiet_prozent": (cells["share"].astype(float) * 100).round(4),
        },
        geometry=cells.geometry,
    ).drop_duplicates("gitter_id")
    if values:
        table = pd.DataFrame(values)
        wide = table.pivot_table(
            index="cell_id", columns="indicator", values="value", aggfunc="first", dropna=False
        )
        for indicator in sorted(wide.columns):
            data[indicator] = data["gitter_id"].map(wide[indicator]).astype(float)
        flagged = table[table["flag"].notna() & (table["flag"] != "")]
        notes = (
            flagged.assign(note=flagged["indicator"] + ": " + flagged["flag"])
            .groupby("cell_id")["note"]
            .agg(lambda n: "; ".join(sorted(n)))
        )
        data["hinweise"] = data["gitter_id"].map(notes)
    return _layer("zensus_gitter_100m", data.reset_index(drop=True))


def select_layers(
    conn: Connection,
    *,
    themes: Sequence[str],
    area: bytes,
    area_name: str,
    area_m2: float,
    ags: Sequence[str],
    restricted_ags: Sequence[str],
    traffic_radius_m: float,
) -> list[PackageLayer]:
    """Every layer the themes ask for, in the order of `themes.LAYERS`."""
    params = {"area": area}
    layers = [
        area_layer(area_name, area, area_m2),
        _layer("gemeindegrenze", frame(conn, "layer_gemeindegrenze", {"ags": list(ags)})),
    ]
    for name, info in LAYERS.items():
        if info.theme not in themes:
            continue
        if name == "zensus_gitter_100m":
            layers.append(grid_layer(conn, area))
        elif name == "leerstand":
            if restricted_ags:
                data = frame(conn, "layer_leerstand", {**params, "ags": list(restricted_ags)})
                layers.append(_layer(name, data))
        elif name == "ueberschwemmungsgebiete":
            data = frame(conn, f"layer_{name}", params)
            layers.append(_layer(name, gpd.GeoDataFrame(label_zones(data), geometry="geometry")))
        elif name == "verkehrszaehlstellen":
            data = frame(conn, f"layer_{name}", {**params, "radius": traffic_radius_m})
            layers.append(_layer(name, data))
        else:
            layers.append(_layer(name, frame(conn, f"layer_{name}", params)))
    return layers
