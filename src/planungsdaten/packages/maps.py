"""Maps of a planning package, drawn from the package's own layers (no tiles): one PNG each."""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import patheffects
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle
from matplotlib.path import Path
from shapely.geometry.base import BaseGeometry

from planungsdaten.formatting import format_date, format_number
from planungsdaten.packages.model import ReportInput, SourceUse

DPI = 150
# A4 landscape ratio; 8.48 in rather than 1800/√2 px so that the height is a whole pixel count
FIGURE_INCHES = (12.0, 8.48)
MAP_SIZE_PX = (1800, 1272)
MARGIN = 0.08

_MAP_RECT = (0.012, 0.082, 0.70, 0.835)
_LEGEND_RECT = (0.728, 0.082, 0.262, 0.835)
_HALO = [patheffects.withStroke(linewidth=2.6, foreground="white")]

_AREA_COLOUR = "#b2182b"
_MUNICIPALITY_COLOUR = "#3c3c3c"
_NULL_COLOUR = "#d9d9d9"


@dataclass(frozen=True)
class MapImage:
    """A rendered map: file stem, German title and caption, PNG bytes."""

    name: str
    title: str
    caption: str
    png: bytes


LegendEntries = list[tuple[Artist, str]]


@dataclass(frozen=True)
class _Drawn:
    """What a theme drew: its legend (title and entries), the caption and the tables shown."""

    legend_title: str
    legend: LegendEntries
    caption: str
    tables: tuple[str, ...]
    spacing: float = 0.6


@dataclass(frozen=True)
class _MapSpec:
    """A theme map: the layers that call for it and how it is drawn."""

    name: str
    title: str
    layers: tuple[str, ...]
    draw: Callable[[Axes, dict[str, gpd.GeoDataFrame], ReportInput], _Drawn]


def render_maps(report: ReportInput) -> list[MapImage]:
    """The overview map plus one map per theme whose layer is present and not empty."""
    frames = _drawable_frames(report)
    maps = [_render(_OVERVIEW, frames, report)]
    for spec in _THEME_MAPS:
        if any(layer in frames for layer in spec.layers):
            maps.append(_render(spec, frames, report))
    return maps


def _drawable_frames(report: ReportInput) -> dict[str, gpd.GeoDataFrame]:
    """The package's layers by name, without rows that have no geometry; empty layers left out."""
    frames: dict[str, gpd.GeoDataFrame] = {}
    for layer in report.layers:
        frame = layer.frame
        if frame is None or len(frame) == 0 or "geometry" not in frame:
            continue
        if frame.crs is not None and frame.crs.to_epsg() != 25832:
            frame = frame.to_crs(25832)
        geometry = frame.geometry
        frame = frame[geometry.notna() & ~geometry.is_empty]
        if len(frame) > 0:
            frames[layer.name] = frame
    return frames


def _render(spec: _MapSpec, frames: dict[str, gpd.GeoDataFrame], report: ReportInput) -> MapImage:
    figure = Figure(figsize=FIGURE_INCHES, dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    ax = figure.add_axes(_MAP_RECT)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)
        spine.set_edgecolor("#555555")
    xmin, ymin, xmax, ymax = _extent(report)

    drawn = spec.draw(ax, frames, report)
    _draw_frame_of_reference(ax, report, (xmin, ymin, xmax, ymax))

    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal", adjustable="datalim")
    _draw_scale_bar(ax, (xmin, ymin, xmax, ymax))
    _draw_north_arrow(ax)
    _draw_legend(figure, drawn)

    figure.text(0.012, 0.985, spec.title, fontsize=18, fontweight="bold", va="top")
    figure.text(0.012, 0.944, _subtitle(report), fontsize=11, va="top", color="#333333")
    attribution, size = _attribution_text(report.sources, ("municipality", *drawn.tables))
    figure.text(
        0.012, 0.008, attribution, fontsize=size, va="bottom", color="#333333", linespacing=1.3
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return MapImage(name=spec.name, title=spec.title, caption=drawn.caption, png=buffer.getvalue())


def _extent(report: ReportInput) -> tuple[float, float, float, float]:
    """Area bounds plus the margin, widened to the map frame's aspect so nothing is distorted."""
    shape = report.area if not report.area.is_empty else report.municipality
    xmin, ymin, xmax, ymax = shape.bounds if not shape.is_empty else (0.0, 0.0, 1.0, 1.0)
    size = max(xmax - xmin, ymax - ymin, 100.0)
    pad = size * MARGIN
    xmin, ymin, xmax, ymax = xmin - pad, ymin - pad, xmax + pad, ymax + pad
    width_px = _MAP_RECT[2] * FIGURE_INCHES[0]
    height_px = _MAP_RECT[3] * FIGURE_INCHES[1]
    frame_ratio = width_px / height_px
    width, height = xmax - xmin, ymax - ymin
    if width / height < frame_ratio:
        grow = (height * frame_ratio - width) / 2
        xmin, xmax = xmin - grow, xmax + grow
    else:
        grow = (width / frame_ratio - height) / 2
        ymin, ymax = ymin - grow, ymax + grow
    return xmin, ymin, xmax, ymax


def _subtitle(report: ReportInput) -> str:
    municipalities = ", ".join(report.municipality_names)
    return (
        f"{report.area_name} · Gemeinde(n): {municipalities} · "
        f"Datenstand: {format_date(report.data_date)}"
    )


def _attribution_text(sources: Sequence[SourceUse], tables: Sequence[str]) -> tuple[str, float]:
    """The attributions of the sources shown, each once, wrapped; and the font size to use."""
    wanted = set(tables)
    seen: list[str] = []
    for source in sources:
        text = source.attribution.strip()
        if source.target_table in wanted and text and text not in seen:
            seen.append(text)
    if not seen:
        return "Kartendarstellung aus den Daten des Pakets, ohne Hintergrundkarte.", 8.0
    text = "Quellen: " + " · ".join(seen)
    lines = textwrap.wrap(text, width=190)
    if len(lines) > 4:  # an attribution is never left out: smaller type instead
        return "\n".join(textwrap.wrap(text, width=235)), 6.5
    return "\n".join(lines), 8.0


# --- geometry to matplotlib -------------------------------------------------------------------


def _polygon_paths(geometries: gpd.GeoSeries) -> tuple[list[Path], np.ndarray]:
    """One path per polygon part (holes included) and the row each part belongs to."""
    values = np.asarray(geometries.values, dtype=object)
    parts, index = shapely.get_parts(values, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
    parts, index = parts[keep], index[keep]
    rings, owner = shapely.get_rings(parts, return_index=True)
    if len(rings) == 0:
        return [], index
    exterior = np.r_[True, owner[1:] != owner[:-1]]
    # matplotlib fills by the non-zero rule: holes only stay empty when they run the other way
    reverse = shapely.is_ccw(rings) != exterior
    ends_of_rings = np.cumsum(shapely.get_num_coordinates(rings))[:-1]
    pieces = np.split(shapely.get_coordinates(rings), ends_of_rings)
    ring_paths = [
        Path(piece[::-1] if flip else piece, closed=True)
        for piece, flip in zip(pieces, reverse, strict=True)
    ]
    starts = np.flatnonzero(exterior)
    ends = np.r_[starts[1:], len(rings)]
    paths = [Path.make_compound_path(*ring_paths[a:b]) for a, b in zip(starts, ends, strict=True)]
    return paths, index


def _add_polygons(
    ax: Axes,
    geometries: gpd.GeoSeries,
    facecolor: str | Sequence[str],
    edgecolor: str = "#444444",
    linewidth: float = 0.3,
    zorder: float = 2,
    hatch: str | None = None,
    alpha: float | None = None,
    linestyle: str | tuple[float, tuple[float, ...]] = "solid",
) -> None:
    """Draws polygons in data coordinates; ``facecolor`` is one colour or one per row."""
    paths, index = _polygon_paths(geometries)
    if not paths:
        return
    faces: str | list[str] = (
        facecolor if isinstance(facecolor, str) else [facecolor[i] for i in index]
    )
    collection = PathCollection(
        paths,
        facecolors=faces,
        edgecolors=edgecolor,
        linewidths=linewidth,
        linestyles=[linestyle],
        zorder=zorder,
        hatch=hatch,
        alpha=alpha,
    )
    ax.add_collection(collection, autolim=False)


def _points(geometries: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """x and y of each row; lines and polygons by a point inside them."""
    values = np.asarray(geometries.values, dtype=object)
    points = np.where(shapely.get_type_id(values) == 0, values, shapely.point_on_surface(values))
    return shapely.get_x(points), shapely.get_y(points)


def _series(frame: gpd.GeoDataFrame, column: str) -> pd.Series:
    """A numeric column (NaN where missing or not a number); all NaN if the column is absent."""
    if column not in frame:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _classify(values: pd.Series, edges: Sequence[float]) -> np.ndarray:
    """Class index per value (``edges`` are the lower bounds of classes 1…n); -1 for NaN."""
    numbers = values.to_numpy(dtype="float64")
    classes = np.digitize(numbers, edges)
    return np.where(np.isnan(numbers), -1, classes)


def _count(n: int, singular: str, plural: str) -> str:
    return f"{format_number(n, 0)} {singular if n == 1 else plural}"


def _patch(
    colour: str, edge: str = "#444444", hatch: str | None = None, alpha: float = 1.0
) -> Patch:
    return Patch(facecolor=to_rgba(colour, alpha), edgecolor=edge, linewidth=0.6, hatch=hatch)


def _draw_classes(
    ax: Axes,
    frame: gpd.GeoDataFrame,
    classes: np.ndarray,
    colours: Sequence[str],
    labels: Sequence[str],
    null_label: str,
    edgecolor: str = "#555555",
    linewidth: float = 0.3,
) -> LegendEntries:
    """Polygons coloured by class; NaN classes hatched grey; legend of the classes present."""
    present = set(classes.tolist())
    known = classes >= 0
    _add_polygons(
        ax,
        frame.geometry[known],
        [colours[c] for c in classes[known]],
        edgecolor=edgecolor,
        linewidth=linewidth,
    )
    legend: LegendEntries = []
    for number, (colour, label) in enumerate(zip(colours, labels, strict=True)):
        if number in present:
            legend.append(
                (_patch(colour), f"{label} ({format_number(int((classes == number).sum()), 0)})")
            )
    if -1 in present:
        # hatching takes the edge colour, so it gets one that shows on the grey
        _add_polygons(
            ax,
            frame.geometry[~known],
            _NULL_COLOUR,
            edgecolor="#8c8c8c",
            linewidth=linewidth,
            hatch="////",
        )
        legend.append((_patch(_NULL_COLOUR, edge="#8c8c8c", hatch="////"), null_label))
    return legend


# --- map furniture --------------------------------------------------------------------------


def _draw_frame_of_reference(
    ax: Axes, report: ReportInput, extent: tuple[float, float, float, float]
) -> None:
    """Veils what lies outside the area, then the municipality (thin) and area (bold) outlines."""
    xmin, ymin, xmax, ymax = extent
    frame_box = shapely.box(xmin, ymin, xmax, ymax)
    if not report.area.is_empty and report.area.area > 0:
        outside = frame_box.difference(shapely.make_valid(report.area))
        _add_polygons(
            ax,
            gpd.GeoSeries([outside]),
            "white",
            edgecolor="none",
            linewidth=0,
            zorder=4,
            alpha=0.45,
        )
    outlines: list[tuple[BaseGeometry, str, float, str | tuple[float, tuple[float, ...]]]] = [
        (report.municipality, _MUNICIPALITY_COLOUR, 1.0, (0, (6.0, 3.0))),
        (report.area, _AREA_COLOUR, 2.8, "solid"),
    ]
    for zorder, (shape, colour, width, style) in enumerate(outlines, start=5):
        if not shape.is_empty:
            _add_polygons(
                ax,
                gpd.GeoSeries([shape]),
                "none",
                edgecolor=colour,
                linewidth=width,
                zorder=zorder,
                linestyle=style,
            )


def _nice_length(target: float) -> float:
    """The largest of 1, 2, 5 × 10ⁿ metres not above ``target``."""
    power = 10 ** math.floor(math.log10(target))
    return max(step * power for step in (1, 2, 5) if step * power <= target)


def _distance_label(metres: float) -> str:
    if metres < 1000:
        return f"{format_number(metres, 0)} m"
    kilometres = metres / 1000
    return f"{format_number(kilometres, 0 if kilometres == int(kilometres) else 1)} km"


def _draw_scale_bar(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    """A two-part scale bar in the lower left, on a white ground."""
    xmin, ymin, xmax, ymax = extent
    width, height = xmax - xmin, ymax - ymin
    length = _nice_length(width / 5)
    x0, y0 = xmin + 0.03 * width, ymin + 0.045 * height
    bar = 0.012 * height
    ax.add_patch(
        Rectangle(
            (x0 - 0.012 * width, y0 - 0.03 * height),
            length + 0.05 * width,
            0.085 * height,
            facecolor="white",
            edgecolor="#999999",
            linewidth=0.5,
            alpha=0.9,
            zorder=9,
        )
    )
    for part, colour in enumerate(("black", "white")):
        ax.add_patch(
            Rectangle(
                (x0 + part * length / 2, y0),
                length / 2,
                bar,
                facecolor=colour,
                edgecolor="black",
                linewidth=0.8,
                zorder=10,
            )
        )
    label_y = y0 + bar + 0.008 * height
    for position, text in ((0.0, "0"), (length / 2, ""), (length, _distance_label(length))):
        if text:
            ax.text(x0 + position, label_y, text, ha="center", va="bottom", fontsize=9, zorder=10)
    ax.text(
        x0 + length / 2,
        y0 - 0.008 * height,
        "Maßstabsleiste",
        ha="center",
        va="top",
        fontsize=7.5,
        color="#444444",
        zorder=10,
    )


def _draw_north_arrow(ax: Axes) -> None:
    """A north arrow in the upper right (grid north of UTM zone 32)."""
    x, top, bottom, half = 0.955, 0.935, 0.845, 0.018
    ax.add_patch(
        Rectangle(
            (x - 0.032, bottom - 0.02),
            0.064,
            top - bottom + 0.065,
            transform=ax.transAxes,
            facecolor="white",
            edgecolor="#999999",
            linewidth=0.5,
            alpha=0.9,
            zorder=9,
        )
    )
    middle = bottom + 0.025
    for points, colour in (
        ([(x, top), (x - half, bottom), (x, middle)], "black"),
        ([(x, top), (x + half, bottom), (x, middle)], "white"),
    ):
        ax.add_patch(
            Polygon(
                points,
                closed=True,
                transform=ax.transAxes,
                facecolor=colour,
                edgecolor="black",
                linewidth=0.8,
                zorder=10,
            )
        )
    ax.text(
        x,
        top + 0.005,
        "N",
        transform=ax.transAxes,
        ha="center",
        va="bottom",
        fontsize=12,
        fontweight="bold",
        zorder=10,
    )


def _draw_legend(figure: Figure, drawn: _Drawn) -> None:
    """Theme legend at the top of the side panel, the outlines and the CRS below it."""
    panel = figure.add_axes(_LEGEND_RECT)
    panel.set_axis_off()
    if drawn.legend:
        handles = [handle for handle, _ in drawn.legend]
        labels = ["\n".join(textwrap.wrap(label, 34)) for _, label in drawn.legend]
        theme = panel.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(0.0, 1.0),
            frameon=False,
            title="\n".join(textwrap.wrap(drawn.legend_title, 30)),
            fontsize=10,
            title_fontsize=11,
            alignment="left",
            handlelength=2.0,
            handleheight=1.2,
            borderaxespad=0.0,
            labelspacing=drawn.spacing,
        )
        theme.get_title().set_fontweight("bold")
        panel.add_artist(theme)
    outlines = [
        (Line2D([], [], color=_AREA_COLOUR, linewidth=2.8), "Untersuchungsgebiet"),
        (
            Line2D([], [], color=_MUNICIPALITY_COLOUR, linewidth=1.0, linestyle=(0, (6.0, 3.0))),
            "Gemeindegrenze",
        ),
    ]
    base = panel.legend(
        [handle for handle, _ in outlines],
        [label for _, label in outlines],
        loc="lower left",
        bbox_to_anchor=(0.0, 0.07),
        frameon=False,
        title="Abgrenzung",
        fontsize=10,
        title_fontsize=11,
        alignment="left",
        handlelength=1.8,
        borderaxespad=0.0,
    )
    base.get_title().set_fontweight("bold")
    panel.text(
        0.0,
        0.0,
        "ETRS89 / UTM Zone 32N (EPSG:25832)\nohne Hintergrundkarte",
        transform=panel.transAxes,
        fontsize=8,
        color="#444444",
        va="bottom",
    )


# --- the maps ------------------------------------------------------------------------------

_BUILDING_GROUPS: tuple[tuple[str, str], ...] = (
    ("Wohnen", "#e34a33"),
    ("Wirtschaft/Gewerbe", "#756bb1"),
    ("öffentliche Zwecke", "#3182bd"),
    ("Sonstige", "#969696"),
)

_LAND_USE_GROUPS: tuple[tuple[str, str], ...] = (
    ("Siedlung", "#f2b6a0"),
    ("Verkehr", "#c6c6c6"),
    ("Vegetation", "#b5d98c"),
    ("Gewässer", "#8ec5ea"),
)
_LAND_USE_OTHER = ("Sonstige", "#f0f0f0")

_PARCEL_CLASSES = (
    ("unter 25 %", "#f1eef6"),
    ("25 bis unter 50 %", "#d0d1e6"),
    ("50 bis unter 100 %", "#a6bddb"),
    ("vollständig (100 %)", "#74a9cf"),
)
_PARCEL_EDGES = (25.0, 50.0, 99.95)

_POPULATION_CLASSES = (
    ("1–9", "#ffffb2"),
    ("10–24", "#fecc5c"),
    ("25–49", "#fd8d3c"),
    ("50–99", "#f03b20"),
    ("≥ 100", "#bd0026"),
)
_POPULATION_EDGES = (10.0, 25.0, 50.0, 100.0)

_VACANCY_CLASSES = (
    ("keine", "#f7f7f7"),
    ("1–2", "#fdd0a2"),
    ("3–5", "#fdae6b"),
    ("6–10", "#f16913"),
    ("mehr als 10", "#a63603"),
)
_VACANCY_EDGES = (0.5, 2.5, 5.5, 10.5)

_PLAN_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")


def _draw_overview(ax: Axes, frames: dict[str, gpd.GeoDataFrame], report: ReportInput) -> _Drawn:
    legend: LegendEntries = []
    tables: list[str] = []
    parts = [f"Lage des Untersuchungsgebiets „{report.area_name}“"]
    if "gebaeude" in frames:
        buildings = frames["gebaeude"]
        _add_polygons(ax, buildings.geometry, "#8c8c8c", edgecolor="none", linewidth=0)
        legend.append((_patch("#8c8c8c", edge="none"), "Gebäude"))
        tables.append("building")
        parts.append(f"mit {_count(len(buildings), 'Gebäude', 'Gebäuden')}")
    if "bebauungsplaene" in frames:
        plans = frames["bebauungsplaene"]
        _add_polygons(
            ax,
            plans.geometry,
            "none",
            edgecolor="#7570b3",
            linewidth=1.4,
            zorder=3,
            linestyle=(0, (4.0, 2.0)),
        )
        legend.append(
            (
                Line2D([], [], color="#7570b3", linewidth=1.4, linestyle=(0, (4.0, 2.0))),
                "Bebauungsplan (Geltungsbereich)",
            )
        )
        tables.append("development_plan")
        parts.append(f"und {_count(len(plans), 'Bebauungsplan', 'Bebauungsplänen')}")
    caption = " ".join(parts) + "; Gemeindegrenze gestrichelt."
    return _Drawn("Inhalt", legend, caption, tuple(tables))


def _draw_parcels(ax: Axes, frames: dict[str, gpd.GeoDataFrame], report: ReportInput) -> _Drawn:
    parcels = frames["flurstuecke"]
    share = _series(parcels, "anteil_im_gebiet_prozent")
    tables = ["parcel"]
    if share.notna().any():
        colours = [colour for _, colour in _PARCEL_CLASSES]
        labels = [label for label, _ in _PARCEL_CLASSES]
        legend = _draw_classes(
            ax,
            parcels,
            _classify(share, _PARCEL_EDGES),
            colours,
            labels,
            "ohne Angabe",
            edgecolor="#333333",
            linewidth=0.35,
        )
        title = "Anteil der Flurstücksfläche im Gebiet"
        caption = (
            f"{_count(len(parcels), 'Flurstück', 'Flurstücke')}, eingefärbt nach dem "
            "Anteil ihrer Fläche, der im Untersuchungsgebiet liegt."
        )
    else:
        _add_polygons(ax, parcels.geometry, "#f7f7f7", edgecolor="#333333", linewidth=0.4)
        legend = [(_patch("#f7f7f7", edge="#333333"), "Flurstück")]
        title = "Liegenschaftskataster"
        caption = f"Grenzen von {_count(len(parcels), 'Flurstück', 'Flurstücken')}."
    if "hausnummern" in frames:
        x, y = _points(frames["hausnummern"].geometry)
        ax.scatter(x, y, s=10, color="#222222", linewidths=0, zorder=3)
        legend.append(
            (
                Line2D([], [], marker="o", markersize=3.2, linestyle="", color="#222222"),
                "Adresse (Hausnummer)",
            )
        )
        tables.append("address")
        caption += " Punkte: Adressen (Hausnummern)."
    return _Drawn(title, legend, caption, tuple(tables))


def _building_group(code: float) -> int:
    """Index into ``_BUILDING_GROUPS`` for an ALKIS Gebäudefunktion code."""
    if math.isnan(code):
        return 3
    return {1: 0, 2: 1, 3: 2}.get(int(code) // 1000, 3)


def _draw_buildings(ax: Axes, frames: dict[str, gpd.GeoDataFrame], report: ReportInput) -> _Drawn:
    buildings = frames["gebaeude"]
    groups = np.array([_building_group(code) for code in _series(buildings, "funktion")])
    faces = [_BUILDING_GROUPS[g][1] for g in groups]
    _add_polygons(ax, buildings.geometry, faces, edgecolor="#333333", linewidth=0.25)
    legend: LegendEntries = [
        (_patch(colour), f"{label} ({format_number(int((groups == g).sum()), 0)})")
        for g, (label, colour) in enumerate(_BUILDING_GROUPS)
        if (groups == g).any()
    ]
    caption = (
        f"{_count(len(buildings), 'Gebäude', 'Gebäude')} nach Gebäudefunktion (ALKIS), "
        "zusammengefasst zu Wohnen, Wirtschaft/Gewerbe, öffentlichen Zwecken und Sonstigem."
    )
    return _Drawn("Gebäudefunktion", legend, caption, ("building",))


def _draw_land_use(ax: Axes, frames: dict[str, gpd.GeoDataFrame], report: ReportInput) -> _Drawn:
    land_use = frames["tatsaechliche_nutzung"]
    names = [name for name, _ in _LAND_USE_GROUPS]
    groups = (
        land_use["gruppe"].astype("string").fillna("").tolist()
        if "gruppe" in land_use
        else [""] * len(land_use)
    )
    index = np.array([names.index(g) if g in names else len(names) for g in groups])
    styles = [*_LAND_USE_GROUPS, _LAND_USE_OTHER]
    _add_polygons(
        ax, land_use.geometry, [styles[i][1] for i in index], edgecolor="#ffffff", linewidth=0.3
    )
    area = land_use.geometry.area.to_numpy()
    total = area.sum()
    legend: LegendEntries = []
    for number, (label, colour) in enumerate(styles):
        if (index == number).any():
            share = 100 * area[index == number].sum() / total if total > 0 else math.nan
            legend.append((_patch(colour), f"{label} ({format_number(share, 1)} %)"))
    caption = (
        "Tatsächliche Nutzung (ALKIS) nach Nutzungsgruppen; in Klammern der Anteil an der "
        "dargestellten Nutzungsfläche."
    )
    return _Drawn("Nutzungsgruppe", legend, caption, ("land_use",))


def _draw_population(ax: Axes, frames: dict[str, gpd.GeoDataFrame], report: ReportInput) -> _Drawn:
    cells = frames["zensus_gitter_100m"]
    classes = _classify(_series(cells, "einwohner"), _POPULATION_EDGES)
    legend = _draw_classes(
        ax,
        cells,
        classes,
        [c for _, c in _POPULATION_CLASSES],
        [label for label, _ in _POPULATION_CLASSES],
        "geheim/keine Angabe",
        edgecolor="#ffffff",
        linewidth=0.4,
    )
    caption = (
        f"Einwohner je 100-m-Gitterzelle (Zensus 2022), {_count(len(cells), 'Zelle', 'Zellen')}; "
        "geheim gehaltene oder fehlende Werte schraffiert."
    )
    return _Drawn("Einwohner je Gitterzelle", legend, caption, ("grid_value", "grid_cell"))


def _draw_vacancy(ax: Axes, frames: dict[str, gpd.GeoDataFrame], report: ReportInput) -> _Drawn:
    legend: LegendEntries = []
    parts: list[str] = []
    if "leerstand_aggregiert" in frames:
        units = frames["leerstand_aggregiert"]
        classes = _classify(_series(units, "leerstaende"), _VACANCY_EDGES)
        legend = _draw_classes(
            ax,
            units,
            classes,
            [c for _, c in _VACANCY_CLASSES],
            [label for label, _ in _VACANCY_CLASSES],
            "unterdrückt/keine Angabe",
            edgecolor="#555555",
            linewidth=0.4,
        )
        kinds = sorted(units["einheit"].dropna().astype(str).unique()) if "einheit" in units else []
        per = f" je {', '.join(kinds)}" if kinds else ""
        parts.append(f"Gemeldete Leerstände, zusammengefasst{per}; kleine Fallzahlen unterdrückt.")
    if "leerstand" in frames:
        x, y = _points(frames["leerstand"].geometry)
        ax.scatter(x, y, s=36, color="#cb181d", edgecolors="white", linewidths=0.8, zorder=7)
        legend.append(
            (
                Line2D(
                    [],
                    [],
                    marker="o",
                    markersize=6,
                    linestyle="",
                    color="#cb181d",
                    markeredgecolor="white",
                ),
                "Leerstand (Einzelobjekt)",
            )
        )
        parts.append("Punkte: Einzelobjekte aus dem Leerstandskataster (nur für Berechtigte).")
    title = "Leerstände je Einheit" if "leerstand_aggregiert" in frames else "Leerstand"
    return _Drawn(title, legend, " ".join(parts), ("vacancy",))


def _draw_traffic(ax: Axes, frames: dict[str, gpd.GeoDataFrame], report: ReportInput) -> _Drawn:
    stations = frames["verkehrszaehlstellen"]
    dtv = _series(stations, "dtv_kfz").to_numpy()
    x, y = _points(stations.geometry)
    known = ~np.isnan(dtv)
    reference = _nice_ceiling(float(dtv[known].max())) if known.any() else 1.0
    largest = 900.0  # marker area in pt² for the reference DTV

    def size(value: float) -> float:
        return max(largest * value / reference, 20.0)

    legend: LegendEntries = []
    if known.any():
        ax.scatter(
            x[known],
            y[known],
            s=[size(v) for v in dtv[known]],
            color="#2c7fb8",
            alpha=0.75,
            edgecolors="#08306b",
            linewidths=0.8,
            zorder=7,
        )
        for value in (reference, reference / 2, reference / 4):
            legend.append(
                (
                    Line2D(
                        [],
                        [],
                        marker="o",
                        linestyle="",
                        markersize=math.sqrt(size(value)),
                        color="#2c7fb8",
                        alpha=0.75,
                        markeredgecolor="#08306b",
                    ),
                    f"{format_number(value, 0)} Kfz/24 h",
                )
            )
        for px, py, value in zip(x[known], y[known], dtv[known], strict=True):
            ax.annotate(
                format_number(float(value), 0),
                (px, py),
                xytext=(9, 6),
                textcoords="offset points",
                fontsize=9,
                zorder=8,
                path_effects=_HALO,
                annotation_clip=True,
            )
    if (~known).any():
        ax.scatter(
            x[~known],
            y[~known],
            s=30,
            color="#bdbdbd",
            edgecolors="#525252",
            linewidths=0.8,
            zorder=7,
        )
        legend.append(
            (
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="",
                    markersize=5.5,
                    color="#bdbdbd",
                    markeredgecolor="#525252",
                ),
                "ohne Zählwert",
            )
        )
    caption = (
        f"{_count(len(stations), 'Verkehrszählstelle', 'Verkehrszählstellen')} im und am "
        "Gebiet; Kreisfläche nach durchschnittlicher täglicher Verkehrsstärke "
        "(DTV, Kfz/24 h), beschriftet mit dem DTV."
    )
    return _Drawn(
        "Durchschnittliche tägliche Verkehrsstärke (DTV)",
        legend,
        caption,
        ("traffic_count",),
        spacing=2.2,
    )


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 × 10ⁿ not below ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return min(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _draw_plans(ax: Axes, frames: dict[str, gpd.GeoDataFrame], report: ReportInput) -> _Drawn:
    plans = frames["bebauungsplaene"]
    states = (
        plans["rechtsstand"].astype("string").fillna("ohne Angabe").tolist()
        if "rechtsstand" in plans
        else ["ohne Angabe"] * len(plans)
    )
    ordered = sorted(set(states))
    colours = [_PLAN_COLOURS[ordered.index(state) % len(_PLAN_COLOURS)] for state in states]
    _add_polygons(ax, plans.geometry, colours, edgecolor="none", linewidth=0, alpha=0.3)
    _add_polygons(ax, plans.geometry, "none", edgecolor="#333333", linewidth=1.2, zorder=3)
    legend: LegendEntries = [
        (_patch(_PLAN_COLOURS[i % len(_PLAN_COLOURS)], alpha=0.3), state)
        for i, state in enumerate(ordered)
    ]
    names = plans["name"].astype("string").fillna("") if "name" in plans else None
    if names is not None:
        x, y = _points(plans.geometry)
        for px, py, name in zip(x, y, names.tolist(), strict=True):
            if name:
                ax.text(
                    px,
                    py,
                    "\n".join(textwrap.wrap(name, 24)),
                    fontsize=9,
                    ha="center",
                    va="center",
                    zorder=8,
                    clip_on=True,
                    path_effects=_HALO,
                )
    caption = (
        f"{_count(len(plans), 'Bebauungsplan', 'Bebauungspläne')} (Geltungsbereich) nach "
        "Rechtsstand, beschriftet mit dem Namen des Plans."
    )
    if len(plans) != 1:
        caption = caption.replace("(Geltungsbereich)", "(Geltungsbereiche)").replace(
            "des Plans", "der Pläne"
        )
    return _Drawn("Rechtsstand", legend, caption, ("development_plan",))


# flood scenarios from the least to the most likely (drawn in that order), German legend
_FLOOD_SCENARIOS: tuple[tuple[str, str, str], ...] = (
    ("HQextrem", "HQextrem – niedrige Wahrscheinlichkeit", "#c6dbef"),
    ("HQ100", "HQ100 – mittlere Wahrscheinlichkeit", "#6baed6"),
    ("HQhaeufig", "HQhäufig – hohe Wahrscheinlichkeit", "#2171b5"),
)
# affected buildings by the most likely scenario that reaches them
_FLOOD_BUILDINGS: tuple[tuple[str, str, str], ...] = (
    ("HQhaeufig", "Gebäude, betroffen ab HQhäufig", "#a50f15"),
    ("HQ100", "Gebäude, betroffen ab HQ100", "#de2d26"),
    ("HQextrem", "Gebäude, betroffen nur bei HQextrem", "#fc8d59"),
)


def _draw_flood(ax: Axes, frames: dict[str, gpd.GeoDataFrame], report: ReportInput) -> _Drawn:
    legend: LegendEntries = []
    tables = ["flood_zone"]
    if "gebaeude" in frames:  # the unaffected buildings as a grey ground
        _add_polygons(ax, frames["gebaeude"].geometry, "#bdbdbd", edgecolor="none", linewidth=0)
        legend.append((_patch("#bdbdbd", edge="none"), "Gebäude"))
        tables.append("building")
    zones = frames.get("ueberschwemmungsgebiete")
    parts = []
    if zones is not None and "szenario" in zones:
        for code, label, colour in _FLOOD_SCENARIOS:
            mine = zones[zones["szenario"] == code]
            if mine.empty:
                continue
            union = shapely.union_all(np.asarray(mine.geometry.values, dtype=object))
            _add_polygons(
                ax, gpd.GeoSeries([union]), colour, edgecolor="#2171b5", linewidth=0.5, alpha=0.85
            )
            hectares = format_number(union.area / 1e4, 1)
            legend.append((_patch(colour, edge="#2171b5", alpha=0.85), f"{label} ({hectares} ha)"))
    buildings = frames.get("gebaeude_hochwasser")
    if buildings is not None and "szenario" in buildings:
        tables.append("building")
        for code, label, colour in _FLOOD_BUILDINGS:
            mine = buildings[buildings["szenario"] == code]
            if mine.empty:
                continue
            _add_polygons(ax, mine.geometry, colour, edgecolor="#67000d", linewidth=0.3, zorder=3)
            legend.append((_patch(colour, edge="#67000d"), f"{label} ({len(mine)})"))
        parts.append(
            f"{_count(len(buildings), 'Gebäude berührt', 'Gebäude berühren')} eine "
            "Überflutungsfläche im Gebiet; rot eingefärbt nach dem wahrscheinlichsten "
            "Szenario, das sie erreicht."
        )
    caption = (
        "Überflutungsflächen der Hochwassergefahrenkarten und Überschwemmungsgebiete nach "
        "Szenario (häufiges, 100-jährliches und extremes Hochwasser), im Gebiet. " + " ".join(parts)
    ).strip()
    return _Drawn("Hochwasserszenario", legend, caption, tuple(dict.fromkeys(tables)))


_OVERVIEW = _MapSpec("karte_uebersicht", "Übersicht", (), _draw_overview)

_THEME_MAPS: tuple[_MapSpec, ...] = (
    _MapSpec("karte_flurstuecke", "Flurstücke", ("flurstuecke",), _draw_parcels),
    _MapSpec("karte_gebaeude", "Gebäude nach Funktion", ("gebaeude",), _draw_buildings),
    _MapSpec("karte_nutzung", "Tatsächliche Nutzung", ("tatsaechliche_nutzung",), _draw_land_use),
    _MapSpec(
        "karte_einwohner",
        "Einwohner (Zensus 2022, 100-m-Gitter)",
        ("zensus_gitter_100m",),
        _draw_population,
    ),
    _MapSpec("karte_leerstand", "Leerstand", ("leerstand_aggregiert", "leerstand"), _draw_vacancy),
    _MapSpec("karte_verkehr", "Verkehrszählstellen", ("verkehrszaehlstellen",), _draw_traffic),
    _MapSpec("karte_bebauungsplaene", "Bebauungspläne", ("bebauungsplaene",), _draw_plans),
    _MapSpec(
        "karte_hochwasser",
        "Hochwassergefahren",
        ("ueberschwemmungsgebiete", "gebaeude_hochwasser"),
        _draw_flood,
    ),
)
