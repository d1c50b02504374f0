"""The themes a planner ticks, the layers each one puts into a package, and their names."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Theme:
    """One theme: its German label and the canonical tables it reads."""

    id: str
    label: str
    tables: tuple[str, ...]


THEMES: dict[str, Theme] = {
    theme.id: theme
    for theme in (
        Theme("cadastre", "Liegenschaftskataster (Flurstücke, Adressen)", ("parcel", "address")),
        Theme("buildings", "Gebäude", ("building",)),
        Theme("land_use", "Tatsächliche Nutzung", ("land_use",)),
        Theme("population", "Bevölkerung und Wohnen (Zensus 2022)", ("grid_value",)),
        Theme("vacancy", "Leerstand", ("vacancy",)),
        Theme("traffic", "Verkehr (Zählstellen)", ("traffic_count",)),
        Theme("development_plans", "Bebauungspläne (XPlanung)", ("development_plan",)),
        # rasters (terrain, water depth) are no table: their versions are registered as
        # target "raster"
        Theme("flood", "Hochwasser und Gelände", ("flood_zone", "raster")),
    )
}


@dataclass(frozen=True)
class LayerInfo:
    """A GeoPackage layer: German table name, title, theme, geometry type."""

    name: str
    title: str
    theme: str | None
    geometry_type: str
    restricted: bool = False


# every layer a package can hold, in the order they appear in the GeoPackage and report
LAYERS: dict[str, LayerInfo] = {
    info.name: info
    for info in (
        LayerInfo("untersuchungsgebiet", "Untersuchungsgebiet", None, "MultiPolygon"),
        LayerInfo("gemeindegrenze", "Gemeindegrenze", None, "MultiPolygon"),
        LayerInfo("flurstuecke", "Flurstücke", "cadastre", "MultiPolygon"),
        LayerInfo("hausnummern", "Hausnummern (Adressen)", "cadastre", "Point"),
        LayerInfo("gebaeude", "Gebäude", "buildings", "MultiPolygon"),
        LayerInfo("tatsaechliche_nutzung", "Tatsächliche Nutzung", "land_use", "MultiPolygon"),
        LayerInfo("zensus_gitter_100m", "Zensus 2022, 100-m-Gitter", "population", "Polygon"),
        LayerInfo("leerstand_aggregiert", "Leerstand (zusammengefasst)", "vacancy", "Polygon"),
        LayerInfo("leerstand", "Leerstandskataster (Einzeldaten)", "vacancy", "Point", True),
        LayerInfo("verkehrszaehlstellen", "Verkehrszählstellen", "traffic", "Point"),
        LayerInfo("bebauungsplaene", "Bebauungspläne", "development_plans", "MultiPolygon"),
        LayerInfo(
            "ueberschwemmungsgebiete",
            "Hochwassergefahrenflächen und Überschwemmungsgebiete",
            "flood",
            "MultiPolygon",
        ),
        LayerInfo(
            "gebaeude_hochwasser", "Gebäude in Hochwassergefahrenflächen", "flood", "MultiPolygon"
        ),
    )
}
