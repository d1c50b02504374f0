"""ISEK/IGEK indicators, computed in PostGIS for the area and the whole municipality."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import shapely
from sqlalchemy import Connection

from planungsdaten.db.queries import query
from planungsdaten.formatting import format_date
from planungsdaten.packages import flood
from planungsdaten.packages.model import Indicator, SourceUse
from planungsdaten.rasters.store import RasterLayer

SQL = "planungsdaten.packages"

# Grün- und Erholungsflächen of the ALKIS tatsächliche Nutzung (object types of the full
# AAA model and the names ALKIS-vereinfacht uses for them)
GREEN_NUTZART = ("AX_SportFreizeitUndErholungsflaeche", "AX_Friedhof")
GREEN_NAMES = ("Sport-, Freizeit- und Erholungsfläche", "Friedhof")
LAND_USE_GROUPS = ("Siedlung", "Verkehr", "Vegetation", "Gewässer")
BUILDING_GROUPS = {
    "wohnen": "Wohngebäude (Funktion 1000–1999)",
    "wirtschaft": "Gebäude für Wirtschaft oder Gewerbe (2000–2999)",
    "oeffentlich": "Gebäude für öffentliche Zwecke (3000–3999)",
    "sonstige": "Sonstige Gebäude / ohne Angabe",
}
# Zensus 2022 grid indicators: label, unit, decimals, how cells are combined
# ("sum": counts weighted by the share of the cell inside; else the weight of a mean)
GRID = {
    "einwohner": ("Einwohner", "EW", 0, "sum"),
    "anzahl_wohnungen": ("Wohnungen", "Anzahl", 0, "sum"),
    "durchschnittsalter": ("Durchschnittsalter", "Jahre", 1, "einwohner"),
    "anteil_unter_18": ("Anteil unter 18-Jährige", "%", 1, "einwohner"),
    "anteil_ab_65": ("Anteil ab 65-Jährige", "%", 1, "einwohner"),
    "leerstandsquote": ("Leerstandsquote (Zensus)", "%", 1, "anzahl_wohnungen"),
    "marktaktive_leerstandsquote": (
        "Marktaktive Leerstandsquote (Zensus)",
        "%",
        1,
        "anzahl_wohnungen",
    ),
    "durchschnittliche_nettokaltmiete": (
        "Durchschnittliche Nettokaltmiete",
        "€/m²",
        2,
        "anzahl_wohnungen",
    ),
}

Values = dict[str, float | None]


@dataclass(frozen=True)
class Region:
    """A geometry indicators are computed for (WKB, EPSG:25832) and its area."""

    wkb: bytes
    area_m2: float


def _one(conn: Connection, name: str, params: dict[str, Any]) -> Any:
    return conn.execute(query(name, SQL), params).one()


def _ratio(a: float | None, b: float | None, factor: float = 1.0) -> float | None:
    return None if a is None or not b else factor * a / b


def grid_values(
    conn: Connection, region: Region
) -> tuple[Values, dict[str, list[int]], dict[str, str]]:
    """Zensus grid indicators for a region: counts weighted by the share of each cell inside
    it, means and rates weighted by residents or dwellings (the finest grid loaded)."""
    resolutions: dict[str, int] = {r[0]: r[1] for r in conn.execute(query("grid_resolutions", SQL))}
    values: Values = {}
    versions: dict[str, list[int]] = {}
    dates: dict[str, str] = {}
    frames: dict[int, pd.DataFrame] = {}
    for resolution in sorted(set(resolutions.values())):
        params = {"area": region.wkb, "resolution": resolution}
        cells = conn.execute(query("grid_cells", SQL), params).mappings().all()
        share = {(c["cell_id"]): float(c["share"]) for c in cells}
        rows = pd.DataFrame(conn.execute(query("grid_values", SQL), params).mappings().all())
        if rows.empty:
            continue
        rows["share"] = rows["cell_id"].map(share)
        frames[resolution] = rows
    for indicator, resolution in resolutions.items():
        rows = frames.get(resolution)
        if rows is None:
            continue
        mine = rows[rows["indicator"] == indicator]
        if mine.empty:
            continue
        versions[indicator] = sorted(int(v) for v in mine["dataset_version_id"].unique())
        ref = mine["reference_date"].dropna()
        dates[indicator] = format_date(min(ref)) if len(ref) else ""
        value = mine.set_index("cell_id")["value"].astype(float)
        weight_share = mine.set_index("cell_id")["share"]
        kind = GRID.get(indicator, ("", "", 1, "sum"))[3]
        if kind == "sum":
            values[indicator] = float((value.fillna(0) * weight_share).sum())
            continue
        weights = rows[rows["indicator"] == kind].set_index("cell_id")["value"].astype(float)
        if weights.empty and kind == "anzahl_wohnungen":
            weights = rows[rows["indicator"] == "einwohner"].set_index("cell_id")["value"]
        w = (weights.reindex(value.index).astype(float) * weight_share).where(value.notna())
        total = float(w.sum())
        values[indicator] = float((value * w).sum()) / total if total > 0 else None
    return values, versions, dates


def region_values(
    conn: Connection,
    region: Region,
    themes: Sequence[str],
    restricted_ags: Sequence[str],
    traffic_radius_m: float,
    loaded: frozenset[str] = frozenset(),
    rasters: Sequence[RasterLayer] = (),
) -> tuple[Values, dict[str, Any]]:
    """All indicator values of one region, plus details the methods quote (years, versions).
    `loaded` are the tables with current data (indicators of absent data are left out)."""
    params: dict[str, Any] = {"area": region.wkb}
    v: Values = {"flaeche_ha": region.area_m2 / 1e4}
    extra: dict[str, Any] = {}
    if "population" in themes or "land_use" in themes:
        grid, extra["grid_versions"], extra["grid_dates"] = grid_values(conn, region)
        v.update(grid)
        if v.get("einwohner") is not None:
            v["einwohnerdichte"] = v["einwohner"] / (region.area_m2 / 1e4)  # type: ignore[operator]
    if "cadastre" in themes:
        row = _one(conn, "ind_parcels", params)
        v["flurstuecke"] = float(row.n)
        v["flurstuecke_amtliche_flaeche_ha"] = _ratio(row.official_m2, 1e4)
        v["adressen"] = float(_one(conn, "ind_addresses", params).n)
    if "buildings" in themes:
        counts: dict[str, int] = {
            r[0]: r[1] for r in conn.execute(query("ind_buildings", SQL), params)
        }
        v["gebaeude"] = float(sum(counts.values()))
        for group in BUILDING_GROUPS:
            v[f"gebaeude_{group}"] = float(counts.get(group, 0))
        footprint = float(_one(conn, "ind_building_footprint", params).m2)
        v["gebaeudegrundflaeche_ha"] = footprint / 1e4
        parcels_inside = _one(conn, "ind_parcels", params).inside_m2
        v["ueberbauungsgrad"] = _ratio(footprint, parcels_inside, 100.0)
    if "land_use" in themes:
        rows = conn.execute(query("ind_land_use", SQL), params).mappings().all()
        total = sum(float(r["m2"]) for r in rows)
        v["nutzung_gesamt_ha"] = total / 1e4
        by_group: dict[str, float] = defaultdict(float)
        green = 0.0
        for r in rows:
            by_group[r["grp"]] += float(r["m2"])
            if r["nutzart"] in GREEN_NUTZART or r["name"] in GREEN_NAMES:
                green += float(r["m2"])
        extra["land_use_groups"] = sorted(
            by_group, key=lambda g: (LAND_USE_GROUPS.index(g) if g in LAND_USE_GROUPS else 9, g)
        )
        for group, m2 in by_group.items():
            v[f"nutzung_{group}_ha"] = m2 / 1e4
            v[f"nutzung_{group}_anteil"] = _ratio(m2, total, 100.0)
        v["gruenflaeche_ha"] = green / 1e4
        v["gruenflaeche_je_einwohner"] = _ratio(green, v.get("einwohner"))
    if "vacancy" in themes:
        if restricted_ags:
            row = _one(conn, "ind_vacancy_register", {**params, "ags": list(restricted_ags)})
        else:
            row = _one(conn, "ind_vacancy_aggregate", params)
        v["leerstaende_register"] = float(row.n)
    if "traffic" in themes:
        row = _one(conn, "ind_traffic", {**params, "radius": traffic_radius_m})
        v["zaehlstellen"] = float(row.n)
        v["dtv_kfz_max"] = row.dtv_max
        v["dtv_kfz_mittel"] = row.dtv_mean
        v["sv_anteil"] = row.sv_share
        extra["traffic_years"] = (row.year_min, row.year_max)
    if "development_plans" in themes:
        row = _one(conn, "ind_plans", params)
        v["bebauungsplaene"] = float(row.n)
        v["bebauungsplaene_in_kraft"] = float(row.n_in_force)
        v["bebauungsplaene_flaeche_ha"] = float(row.in_force_m2) / 1e4
    if "flood" in themes and "flood_zone" in loaded:
        resolutions = {r[0]: r[1] for r in conn.execute(query("grid_resolutions", SQL))}
        zones, extra["flood_grid_versions"] = flood.zone_values(
            conn, region.wkb, region.area_m2, resolutions.get("einwohner")
        )
        v.update(zones)
    if "flood" in themes:
        v.update(flood.terrain_values(rasters, shapely.from_wkb(region.wkb)))
        terrain = flood.terrain_layer(rasters)
        extra["terrain_version"] = terrain.version_id if terrain else None
    return {k: (None if x is None else float(x)) for k, x in v.items()}, extra


def _sources(
    sources: Sequence[SourceUse], tables: Sequence[str], versions: Sequence[int] | None = None
) -> tuple[str, str]:
    """Titles and dates ("Stand") of the sources of `tables` (or of those version ids)."""
    used = [
        s
        for s in sources
        if s.target_table in tables and (versions is None or s.version_id in versions)
    ]
    titles = "; ".join(dict.fromkeys(s.title for s in used))
    dates = ", ".join(dict.fromkeys(format_date(s.published_at) for s in used))
    return titles or "keine Daten geladen", dates


def build_indicators(
    area: Values,
    municipality: Values,
    extra: dict[str, Any],
    sources: Sequence[SourceUse],
    *,
    themes: Sequence[str],
    restricted: bool,
    traffic_radius_m: float,
    min_count: int,
) -> list[Indicator]:
    """The indicator rows, in report order, for the values of both regions."""
    out: list[Indicator] = []

    def add(
        key: str,
        theme: str,
        label: str,
        unit: str,
        source: tuple[str, str],
        method: str,
        decimals: int = 1,
    ) -> None:
        if key not in area and key not in municipality:
            return
        if theme != "Gebiet" and theme not in themes:
            return
        out.append(
            Indicator(
                key,
                theme,
                label,
                unit,
                area.get(key),
                municipality.get(key),
                source[0],
                source[1],
                method,
                decimals,
            )
        )

    add(
        "flaeche_ha",
        "Gebiet",
        "Fläche",
        "ha",
        ("Geometrie des Gebiets bzw. der Gemeinde", ""),
        "Fläche der Geometrie in EPSG:25832 (ETRS89 / UTM 32N).",
        1,
    )
    grid_versions: dict[str, list[int]] = extra.get("grid_versions", {})
    grid_dates: dict[str, str] = extra.get("grid_dates", {})
    for key, (label, unit, decimals, kind) in GRID.items():
        source = (
            _sources(sources, ["grid_value"], grid_versions.get(key))[0],
            grid_dates.get(key, ""),
        )
        if kind == "sum":
            method = (
                "Summe der Werte der Zensus-Gitterzellen, jede Zelle mit ihrem "
                "Flächenanteil im Gebiet gewichtet. Geheim gehaltene Zellen („–“) zählen "
                "mit 0; der Wert ist daher eine Untergrenze."
            )
        else:
            weight = "Einwohner" if kind == "einwohner" else "Wohnungen (ersatzweise Einwohner)"
            method = (
                f"Mittel der Zellwerte, gewichtet mit {weight} × Flächenanteil der Zelle "
                "im Gebiet; Zellen ohne veröffentlichten Wert bleiben unberücksichtigt."
            )
        add(key, "population", label, unit, source, method, decimals)
        if key == "einwohner":
            add(
                "einwohnerdichte",
                "population",
                "Einwohnerdichte",
                "EW/ha",
                source,
                "Einwohner (flächengewichtet) je Hektar Fläche des Gebiets.",
                1,
            )
    cadastre = _sources(sources, ["parcel"])
    add(
        "flurstuecke",
        "cadastre",
        "Flurstücke",
        "Anzahl",
        cadastre,
        "Flurstücke, die das Gebiet mit einer Fläche überlappen (bloßes Berühren zählt nicht).",
        0,
    )
    add(
        "flurstuecke_amtliche_flaeche_ha",
        "cadastre",
        "Amtliche Fläche dieser Flurstücke",
        "ha",
        cadastre,
        "Summe der amtlichen Flächen (ALKIS amtlicheFlaeche) der Flurstücke, "
        "auch der Teile außerhalb des Gebiets.",
        1,
    )
    add(
        "adressen",
        "cadastre",
        "Adressen (Hausnummern)",
        "Anzahl",
        _sources(sources, ["address"]),
        "Hausnummern-Punkte im Gebiet.",
        0,
    )
    buildings = _sources(sources, ["building"])
    add(
        "gebaeude",
        "buildings",
        "Gebäude",
        "Anzahl",
        buildings,
        "Gebäude, deren innerer Punkt (ST_PointOnSurface) im Gebiet liegt.",
        0,
    )
    for group, label in BUILDING_GROUPS.items():
        add(
            f"gebaeude_{group}",
            "buildings",
            label,
            "Anzahl",
            buildings,
            "Wie „Gebäude“, nach der Gebäudefunktion (AdV-Codeliste AX_Gebaeudefunktion).",
            0,
        )
    add(
        "gebaeudegrundflaeche_ha",
        "buildings",
        "Gebäudegrundfläche",
        "ha",
        buildings,
        "Summe der Gebäudegrundrisse, auf das Gebiet zugeschnitten.",
        2,
    )
    add(
        "ueberbauungsgrad",
        "buildings",
        "Überbauungsgrad",
        "%",
        _sources(sources, ["building", "parcel"]),
        "Gebäudegrundfläche ÷ Flurstücksfläche, beide auf das Gebiet zugeschnitten, × 100.",
        1,
    )
    land_use = _sources(sources, ["land_use"])
    for group in extra.get("land_use_groups", []):
        add(
            f"nutzung_{group}_ha",
            "land_use",
            f"Flächennutzung {group}",
            "ha",
            land_use,
            "Summe der Flächen der tatsächlichen Nutzung dieser Gruppe im Gebiet (zugeschnitten).",
            1,
        )
        add(
            f"nutzung_{group}_anteil",
            "land_use",
            f"Anteil {group}",
            "%",
            land_use,
            "Fläche der Nutzungsgruppe ÷ Fläche aller Nutzungen im Gebiet × 100.",
            1,
        )
    add(
        "nutzung_gesamt_ha",
        "land_use",
        "Flächennutzung gesamt",
        "ha",
        land_use,
        "Summe aller Flächen der tatsächlichen Nutzung im Gebiet (zugeschnitten).",
        1,
    )
    add(
        "gruenflaeche_ha",
        "land_use",
        "Grün- und Erholungsfläche",
        "ha",
        land_use,
        "Sport-, Freizeit- und Erholungsflächen (mit Grünanlagen) und Friedhöfe der "
        "tatsächlichen Nutzung, zugeschnitten.",
        2,
    )
    add(
        "gruenflaeche_je_einwohner",
        "land_use",
        "Grün- und Erholungsfläche je Einwohner",
        "m²/EW",
        _sources(sources, ["land_use", "grid_value"]),
        "Grün- und Erholungsfläche ÷ Einwohner (Zensus 2022, flächengewichtet).",
        1,
    )
    vacancy = _sources(sources, ["vacancy"])
    if restricted:
        method = "Verortete Einträge des Leerstandskatasters im Gebiet (Einzeldaten)."
    else:
        method = (
            f"Summe der veröffentlichten Leerstände der 100-m-Zellen, deren Mittelpunkt "
            f"im Gebiet liegt. Zellen mit weniger als {min_count} Einträgen werden zum "
            "Schutz personenbezogener Daten nicht veröffentlicht: der Wert ist eine "
            "Untergrenze."
        )
    add(
        "leerstaende_register",
        "vacancy",
        "Registrierte Leerstände (Leerstandskataster)",
        "Anzahl",
        vacancy,
        method,
        0,
    )
    years = extra.get("traffic_years") or (None, None)
    traffic = (
        _sources(sources, ["traffic_count"])[0],
        "–".join(dict.fromkeys(str(y) for y in years if y)) or "",
    )
    near = f"im Gebiet oder bis {traffic_radius_m:,.0f} m entfernt".replace(",", ".")
    add(
        "zaehlstellen",
        "traffic",
        "Verkehrszählstellen",
        "Anzahl",
        traffic,
        f"Zählstellen {near}; je Zählstelle das jüngste Zähljahr.",
        0,
    )
    add(
        "dtv_kfz_max",
        "traffic",
        "DTV Kfz, höchster Wert",
        "Kfz/24 h",
        traffic,
        f"Höchste durchschnittliche tägliche Verkehrsstärke der Zählstellen {near}.",
        0,
    )
    add(
        "dtv_kfz_mittel",
        "traffic",
        "DTV Kfz, Mittel der Zählstellen",
        "Kfz/24 h",
        traffic,
        f"Arithmetisches Mittel der DTV der Zählstellen {near}.",
        0,
    )
    add(
        "sv_anteil",
        "traffic",
        "Schwerverkehrsanteil",
        "%",
        traffic,
        "Summe DTV Schwerverkehr ÷ Summe DTV Kfz der Zählstellen mit beiden Werten × 100.",
        1,
    )
    plans = _sources(sources, ["development_plan"])
    add(
        "bebauungsplaene",
        "development_plans",
        "Bebauungspläne",
        "Anzahl",
        plans,
        "Pläne (XPlanung), deren Geltungsbereich das Gebiet überlappt.",
        0,
    )
    add(
        "bebauungsplaene_in_kraft",
        "development_plans",
        "davon in Kraft",
        "Anzahl",
        plans,
        "Rechtsstand „in Kraft getreten“ (XPlanung 4000) oder „teilweise untergegangen“ (4500).",
        0,
    )
    add(
        "bebauungsplaene_flaeche_ha",
        "development_plans",
        "Fläche rechtskräftiger Bebauungspläne",
        "ha",
        plans,
        "Vereinigung der Geltungsbereiche der Pläne in Kraft, zugeschnitten.",
        2,
    )
    _flood_indicators(add, sources, extra)
    return out


def _flood_indicators(
    add: Callable[..., None], sources: Sequence[SourceUse], extra: dict[str, Any]
) -> None:
    """Residents, buildings and area share in HQ100 and HQextrem zones; terrain."""
    zones = _sources(sources, ["flood_zone"])
    census = _sources(sources, ["grid_value"], extra.get("flood_grid_versions") or [])
    residents = (
        "; ".join(t for t in (zones[0], census[0]) if t != "keine Daten geladen"),
        ", ".join(dict.fromkeys(d for d in (zones[1], census[1]) if d)),
    )
    buildings = _sources(sources, ["flood_zone", "building"])
    for scenario, key in flood.INDICATOR_SCENARIOS:
        label = flood.SCENARIOS[scenario][1]
        add(
            f"hochwasser_{key}_einwohner",
            "flood",
            f"Einwohner in {label}-Überflutungsflächen",
            "EW",
            residents,
            "Einwohner der Zensus-Gitterzellen (feinstes geladenes Gitter, 100 m), jede Zelle "
            f"gewichtet mit dem Anteil ihrer Fläche, der im Gebiet und in der {label}-"
            "Überflutungsfläche liegt: Σ Einwohner × Fläche(Zelle ∩ Überflutungsfläche ∩ "
            "Gebiet) ÷ Fläche(Zelle). Angenommen ist eine gleichmäßige Verteilung der Einwohner "
            "in der Zelle; geheim gehaltene Zellen („–“) zählen mit 0.",
            0,
        )
        add(
            f"hochwasser_{key}_gebaeude",
            "flood",
            f"Gebäude in {label}-Überflutungsflächen",
            "Anzahl",
            buildings,
            "Gebäudegrundrisse (ALKIS), die eine Überflutungsfläche des Szenarios innerhalb "
            "des Gebiets schneiden oder berühren – auch wenn nur ein Teil des Gebäudes "
            "betroffen ist. Gebäude am Gebietsrand zählen nur, wenn sie die Fläche im Gebiet "
            "treffen (anders als bei „Gebäude“, das den inneren Punkt zählt).",
            0,
        )
        add(
            f"hochwasser_{key}_anteil",
            "flood",
            f"Anteil des Gebiets in {label}-Überflutungsflächen",
            "%",
            zones,
            "Fläche der Vereinigung aller Flächen des Szenarios (Hochwassergefahrenflächen und "
            "Überschwemmungsgebiete, Überlagerungen einfach gezählt) im Gebiet ÷ Fläche des "
            "Gebiets × 100.",
            1,
        )
    terrain_version = extra.get("terrain_version")
    terrain = _sources(sources, ["raster"], [terrain_version] if terrain_version else [])
    cells = (
        "über die Zellen des Geländemodells, deren Mittelpunkt im Gebiet liegt; Zellen ohne "
        "Wert (NoData) und Teile außerhalb des Modells bleiben unberücksichtigt."
    )
    add(
        "gelaende_hoehe_mittel",
        "flood",
        "Mittlere Geländehöhe",
        "m ü. NHN",
        terrain,
        f"Arithmetisches Mittel der Höhen {cells}",
        1,
    )
    add(
        "gelaende_hoehe_max",
        "flood",
        "Höchste Geländehöhe",
        "m ü. NHN",
        terrain,
        f"Größte Höhe {cells}",
        1,
    )
    add(
        "gelaende_steil_anteil",
        "flood",
        f"Anteil steiler Flächen (Neigung über {flood.STEEP_PERCENT:.0f} %)",
        "%",
        terrain,
        "Anteil der Zellen mit einer Neigung über "
        f"{flood.STEEP_PERCENT:.0f} % (Höhenunterschied je Strecke, nach Horn aus den "
        f"3 × 3 Nachbarzellen) {cells}",
        1,
    )


def compute_indicators(
    conn: Connection,
    *,
    area: Region,
    municipality: Region,
    themes: Sequence[str],
    restricted_ags: Sequence[str],
    sources: Sequence[SourceUse],
    traffic_radius_m: float,
    min_count: int,
    rasters: Sequence[RasterLayer] = (),
    progress: Callable[[str], None] = lambda step: None,
) -> list[Indicator]:
    """Indicators for the area and the municipality, side by side."""
    progress("Kennzahlen für das Gebiet")
    loaded = frozenset(s.target_table for s in sources)
    area_values, extra = region_values(
        conn, area, themes, restricted_ags, traffic_radius_m, loaded, rasters
    )
    if municipality.wkb == area.wkb:
        municipality_values = area_values
    else:
        progress("Kennzahlen für die Gemeinde")
        municipality_values, more = region_values(
            conn, municipality, themes, restricted_ags, traffic_radius_m, loaded, rasters
        )
        groups = set(extra.get("land_use_groups", [])) | set(more.get("land_use_groups", []))
        for group in groups:  # a group missing in one region has no area there, not no data
            for values in (area_values, municipality_values):
                values.setdefault(f"nutzung_{group}_ha", 0.0)
                values.setdefault(f"nutzung_{group}_anteil", 0.0)
        extra["land_use_groups"] = sorted(
            groups, key=lambda g: (LAND_USE_GROUPS.index(g) if g in LAND_USE_GROUPS else 9, g)
        )
    return build_indicators(
        area_values,
        municipality_values,
        extra,
        sources,
        themes=themes,
        restricted=bool(restricted_ags),
        traffic_radius_m=traffic_radius_m,
        min_count=min_count,
    )
