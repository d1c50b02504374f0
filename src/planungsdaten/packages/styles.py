"""QGIS styles for the package layers, stored in the GeoPackage so every layer opens readable."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from planungsdaten.packages.themes import LAYERS

RGBA = tuple[int, int, int, int]

QGIS_VERSION = "3.34.0-Prizren"
QGIS_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
# rule keys derived from the layer name, so the same style is the same text every time
KEY_NAMESPACE = uuid.UUID("6f1c2a55-2d0c-4f7e-9a0e-5b0c6a7d8e91")
# large enough for any count in a package; QGIS ranges need a finite upper bound
OPEN_END = 999_999_999.0
NO_SCALE_UNIT = "3x:0,0,0,0,0,0"

BLACK: RGBA = (0, 0, 0, 255)
WHITE: RGBA = (255, 255, 255, 255)
TRANSPARENT: RGBA = (255, 255, 255, 0)


@dataclass(frozen=True)
class Fill:
    """A polygon symbol layer: fill colour (None: no fill) and outline, widths in mm."""

    color: RGBA | None
    outline: RGBA
    width: float = 0.26
    outline_style: str = "solid"
    brush: str = "solid"


@dataclass(frozen=True)
class Marker:
    """A point symbol layer: a simple marker, sizes in mm."""

    color: RGBA
    outline: RGBA
    size: float
    shape: str = "circle"
    outline_width: float = 0.2


Symbol = tuple[Fill | Marker, ...]


@dataclass(frozen=True)
class Label:
    """A label expression; shown only at scales larger than 1:max_scale if that is set."""

    expression: str
    max_scale: int | None = None
    size: float = 8.0
    color: RGBA = BLACK


Style = tuple[etree._Element, Label | None]


def _field(name: str) -> str:
    """A column reference in a QGIS expression."""
    return '"' + name.replace('"', '""') + '"'


def _color(rgba: RGBA) -> str:
    """QGIS colour text 'r,g,b,a'."""
    return ",".join(str(part) for part in rgba)


def _hex(rgba: RGBA) -> str:
    """SLD colour '#rrggbb'."""
    return "#{:02x}{:02x}{:02x}".format(*rgba[:3])


def _number(value: float) -> str:
    """A number as QGIS writes it: no trailing '.0'."""
    return f"{value:g}"


def _options(parent: etree._Element, values: dict[str, str]) -> etree._Element:
    """An <Option type="Map"> of string options, sorted by name as QGIS writes them."""
    mapping = etree.SubElement(parent, "Option", type="Map")
    for name in sorted(values):
        etree.SubElement(mapping, "Option", name=name, type="QString", value=values[name])
    return mapping


def _no_properties(parent: etree._Element, tag: str = "data_defined_properties") -> None:
    """An empty data-defined property collection."""
    collection = etree.SubElement(etree.SubElement(parent, tag), "Option", type="Map")
    etree.SubElement(collection, "Option", name="name", type="QString", value="")
    etree.SubElement(collection, "Option", name="properties")
    etree.SubElement(collection, "Option", name="type", type="QString", value="collection")


def _layer_attributes(kind: str) -> dict[str, str]:
    """The attributes of a symbol layer element ('class' and 'pass' are Python keywords)."""
    return {"class": kind, "enabled": "1", "locked": "0", "pass": "0"}


def _fill_layer(parent: etree._Element, fill: Fill) -> None:
    """A SimpleFill symbol layer."""
    layer = etree.SubElement(parent, "layer", _layer_attributes("SimpleFill"))
    _options(
        layer,
        {
            "border_width_map_unit_scale": NO_SCALE_UNIT,
            "color": _color(fill.color or TRANSPARENT),
            "joinstyle": "bevel",
            "offset": "0,0",
            "offset_map_unit_scale": NO_SCALE_UNIT,
            "offset_unit": "MM",
            "outline_color": _color(fill.outline),
            "outline_style": fill.outline_style,
            "outline_width": _number(fill.width),
            "outline_width_unit": "MM",
            "style": "no" if fill.color is None else fill.brush,
        },
    )
    _no_properties(layer)


def _marker_layer(parent: etree._Element, marker: Marker) -> None:
    """A SimpleMarker symbol layer."""
    layer = etree.SubElement(parent, "layer", _layer_attributes("SimpleMarker"))
    _options(
        layer,
        {
            "angle": "0",
            "cap_style": "square",
            "color": _color(marker.color),
            "horizontal_anchor_point": "1",
            "joinstyle": "bevel",
            "name": marker.shape,
            "offset": "0,0",
            "offset_map_unit_scale": NO_SCALE_UNIT,
            "offset_unit": "MM",
            "outline_color": _color(marker.outline),
            "outline_style": "solid",
            "outline_width": _number(marker.outline_width),
            "outline_width_map_unit_scale": NO_SCALE_UNIT,
            "outline_width_unit": "MM",
            "scale_method": "diameter",
            "size": _number(marker.size),
            "size_map_unit_scale": NO_SCALE_UNIT,
            "size_unit": "MM",
            "vertical_anchor_point": "1",
        },
    )
    _no_properties(layer)


def _symbol(parent: etree._Element, name: str, symbol: Symbol) -> None:
    """A <symbol> with its layers; fill or marker by the first layer."""
    kind = "marker" if isinstance(symbol[0], Marker) else "fill"
    element = etree.SubElement(
        parent,
        "symbol",
        type=kind,
        name=name,
        alpha="1",
        clip_to_extent="1",
        force_rhr="0",
        frame_rate="10",
        is_animated="0",
    )
    _no_properties(element)
    for layer in symbol:
        if isinstance(layer, Marker):
            _marker_layer(element, layer)
        else:
            _fill_layer(element, layer)


def _symbols(parent: etree._Element, symbols: Sequence[Symbol], tag: str = "symbols") -> None:
    """The <symbols> list, named by position as the renderers reference them."""
    container = etree.SubElement(parent, tag)
    for index, symbol in enumerate(symbols):
        _symbol(container, str(index), symbol)


def _renderer(kind: str, **attributes: str) -> etree._Element:
    """A <renderer-v2> element with QGIS's default flags."""
    defaults = {"symbollevels": "0", "forceraster": "0", "enableorderby": "0"}
    return etree.Element(
        "renderer-v2", {"type": kind, **attributes, **defaults, "referencescale": "-1"}
    )


def _single(symbol: Symbol) -> etree._Element:
    """A single-symbol renderer."""
    renderer = _renderer("singleSymbol")
    _symbols(renderer, [symbol])
    etree.SubElement(renderer, "rotation")
    etree.SubElement(renderer, "sizescale")
    return renderer


def _categorized(
    attribute: str, categories: Sequence[tuple[str, str, Symbol]], other: tuple[str, Symbol]
) -> etree._Element:
    """Categories on a column or expression; the value '' catches every other value and NULL."""
    renderer = _renderer("categorizedSymbol", attr=attribute)
    entries = [*categories, ("", *other)]
    container = etree.SubElement(renderer, "categories")
    for index, (value, label, _) in enumerate(entries):
        etree.SubElement(
            container,
            "category",
            value=value,
            type="string",
            symbol=str(index),
            label=label,
            render="true",
        )
    _symbols(renderer, [symbol for _, _, symbol in entries])
    _symbols(renderer, [other[1]], tag="source-symbol")
    etree.SubElement(renderer, "rotation")
    etree.SubElement(renderer, "sizescale")
    return renderer


def _graduated(
    attribute: str, ranges: Sequence[tuple[float, float, str, Symbol]], method: str
) -> etree._Element:
    """Classes on a numeric column; QGIS ranges include both ends and the first match wins."""
    renderer = _renderer("graduatedSymbol", attr=attribute, graduatedMethod=method)
    container = etree.SubElement(renderer, "ranges")
    for index, (lower, upper, label, _) in enumerate(ranges):
        etree.SubElement(
            container,
            "range",
            lower=f"{lower:.15f}",
            upper=f"{upper:.15f}",
            symbol=str(index),
            label=label,
            render="true",
        )
    _symbols(renderer, [symbol for _, _, _, symbol in ranges])
    _symbols(renderer, [ranges[0][3]], tag="source-symbol")
    method_element = etree.SubElement(renderer, "classificationMethod", id="Custom")
    etree.SubElement(method_element, "symmetricMode", enabled="0", symmetrypoint="0", astride="0")
    etree.SubElement(
        method_element, "labelFormat", format="%1 – %2", labelprecision="0", trimtrailingzeroes="1"
    )
    etree.SubElement(renderer, "rotation")
    etree.SubElement(renderer, "sizescale")
    return renderer


def _rule_based(layer: str, rules: Sequence[tuple[str, str, Symbol]]) -> etree._Element:
    """Rules (filter expression, legend label, symbol), each drawn where its filter holds."""
    renderer = _renderer("RuleRenderer")
    root = etree.SubElement(renderer, "rules", key=_key(layer, "root"))
    for index, (expression, label, _) in enumerate(rules):
        etree.SubElement(
            root,
            "rule",
            key=_key(layer, str(index)),
            filter=expression,
            label=label,
            symbol=str(index),
        )
    _symbols(renderer, [symbol for _, _, symbol in rules])
    return renderer


def _key(layer: str, name: str) -> str:
    """A stable '{uuid}' key for a rule."""
    return "{" + str(uuid.uuid5(KEY_NAMESPACE, f"{layer}/{name}")) + "}"


def _labeling(label: Label, point: bool) -> etree._Element:
    """Simple labelling with a white halo; polygons labelled inside, points beside them."""
    labeling = etree.Element("labeling", type="simple")
    settings = etree.SubElement(labeling, "settings", calloutType="simple")
    text_style = etree.SubElement(
        settings,
        "text-style",
        fieldName=label.expression,
        isExpression="1",
        fontFamily="Arial",
        namedStyle="",
        fontSize=_number(label.size),
        fontSizeUnit="Point",
        fontSizeMapUnitScale=NO_SCALE_UNIT,
        fontWeight="50",
        fontItalic="0",
        fontUnderline="0",
        fontStrikeout="0",
        fontLetterSpacing="0",
        fontWordSpacing="0",
        fontKerning="1",
        forcedBold="0",
        forcedItalic="0",
        textColor=_color(label.color),
        textOpacity="1",
        textOrientation="horizontal",
        blendMode="0",
        capitalization="0",
        allowHtml="0",
        useSubstitutions="0",
        multilineHeight="1",
        multilineHeightUnit="Percentage",
        previewBkgrdColor=_color(WHITE),
        legendString="Aa",
    )
    etree.SubElement(text_style, "families")
    etree.SubElement(
        text_style,
        "text-buffer",
        bufferDraw="1",
        bufferSize="0.8",
        bufferSizeUnits="MM",
        bufferSizeMapUnitScale=NO_SCALE_UNIT,
        bufferColor=_color(WHITE),
        bufferOpacity="1",
        bufferNoFill="1",
        bufferJoinStyle="128",
        bufferBlendMode="0",
    )
    etree.SubElement(text_style, "background", shapeDraw="0")
    etree.SubElement(text_style, "shadow", shadowDraw="0")
    _no_properties(text_style, "dd_properties")
    etree.SubElement(text_style, "substitutions")
    etree.SubElement(
        settings,
        "text-format",
        wrapChar="",
        autoWrapLength="0",
        useMaxLineLengthForAutoWrap="1",
        multilineAlign="3",
        formatNumbers="0",
        decimals="3",
        plussign="0",
        addDirectionSymbol="0",
        placeDirectionSymbol="0",
        reverseDirectionSymbol="0",
        leftDirectionSymbol="<",
        rightDirectionSymbol=">",
    )
    # points: cartographic positions around the point; polygons: over the centroid, inside
    etree.SubElement(
        settings,
        "placement",
        placement="6" if point else "1",
        layerType="PointGeometry" if point else "PolygonGeometry",
        dist="0.6" if point else "0",
        distUnits="MM",
        distMapUnitScale=NO_SCALE_UNIT,
        centroidInside="1",
        centroidWhole="0",
        fitInPolygonOnly="0",
        offsetType="0",
        offsetUnits="MM",
        xOffset="0",
        yOffset="0",
        quadOffset="4",
        rotationAngle="0",
        priority="5",
        placementFlags="10",
        polygonPlacementFlags="2",
        predefinedPositionOrder="TR,TL,BR,BL,R,L,TSR,BSR",
        overlapHandling="PreventOverlap",
        allowDegraded="0",
        repeatDistance="0",
        repeatDistanceUnits="MM",
        preserveRotation="1",
        maxCurvedCharAngleIn="25",
        maxCurvedCharAngleOut="-25",
    )
    # scaleMax is the largest scale denominator at which labels are still drawn
    etree.SubElement(
        settings,
        "rendering",
        drawLabels="1",
        scaleVisibility="0" if label.max_scale is None else "1",
        scaleMin="0",
        scaleMax="0" if label.max_scale is None else str(label.max_scale),
        obstacle="1",
        obstacleFactor="1",
        obstacleType="1",
        labelPerPart="0",
        mergeLines="0",
        minFeatureSize="0",
        limitNumLabels="0",
        maxNumLabels="2000",
        fontLimitPixelSize="0",
        fontMinPixelSize="3",
        fontMaxPixelSize="10000",
        upsidedownLabels="0",
        unplacedVisibility="0",
        zIndex="0",
    )
    _no_properties(settings, "dd_properties")
    return labeling


# --- the layers --------------------------------------------------------------------------

GREY_OUTLINE: RGBA = (110, 110, 110, 255)
BASE_SYMBOLS: dict[str, Symbol] = {
    "untersuchungsgebiet": (Fill(None, (227, 26, 28, 255), 0.8),),
    "gemeindegrenze": (Fill(None, (64, 64, 64, 255), 0.6, outline_style="dash"),),
    "flurstuecke": (Fill(None, BLACK, 0.1),),
    "hausnummern": (Marker((70, 70, 70, 255), WHITE, 1.2, outline_width=0.1),),
    "gebaeude": (Fill((200, 200, 200, 255), GREY_OUTLINE, 0.15),),
    "tatsaechliche_nutzung": (Fill((235, 235, 235, 255), (150, 150, 150, 255), 0.1),),
    "zensus_gitter_100m": (Fill((253, 141, 60, 180), (150, 150, 150, 255), 0.1),),
    "leerstand_aggregiert": (Fill((158, 154, 200, 200), (150, 150, 150, 255), 0.1),),
    "leerstand": (Marker((215, 48, 39, 255), WHITE, 2.4),),
    "verkehrszaehlstellen": (Marker((230, 85, 13, 255), WHITE, 3.0),),
    "bebauungsplaene": (
        Fill((128, 0, 128, 30), (128, 0, 128, 255), 0.5),
        Fill((128, 0, 128, 255), (128, 0, 128, 255), 0.26, outline_style="no", brush="b_diagonal"),
    ),
    "ueberschwemmungsgebiete": (Fill((107, 174, 214, 150), (33, 113, 181, 255), 0.2),),
    "gebaeude_hochwasser": (Fill((252, 141, 89, 255), (110, 40, 20, 255), 0.2),),
}
# flood scenarios, most frequent first: the more likely, the darker the blue
FLOOD_SCENARIO_COLOURS: tuple[tuple[str, str, RGBA], ...] = (
    ("HQhaeufig", "HQhäufig – hohe Wahrscheinlichkeit", (8, 81, 156, 170)),
    ("HQ100", "HQ100 – mittlere Wahrscheinlichkeit", (66, 146, 198, 150)),
    ("HQextrem", "HQextrem – niedrige Wahrscheinlichkeit", (158, 202, 225, 140)),
)


def _polygons(fill: RGBA, outline: RGBA = GREY_OUTLINE, width: float = 0.15) -> Symbol:
    """A plain filled polygon symbol."""
    return (Fill(fill, outline, width),)


def _flurstuecke(columns: frozenset[str]) -> Style:
    """Thin black parcel outlines, numbers when zoomed in to 1:5000 or closer."""
    if "zaehler" not in columns:
        return _single(BASE_SYMBOLS["flurstuecke"]), None
    # Zähler and Nenner may come zero-padded ('00008'); Flurstücksnummern are written without
    number = f"regexp_replace({_field('zaehler')}, '^0+', '')"
    if "nenner" in columns:
        denominator = f"regexp_replace(nullif({_field('nenner')}, ''), '^0+', '')"
        number += f" || coalesce('/' || {denominator}, '')"
    return _single(BASE_SYMBOLS["flurstuecke"]), Label(number, max_scale=5000, size=7)


def _hausnummern(columns: frozenset[str]) -> Style:
    """Small dark points, the house number beside them at 1:2500 or closer."""
    if "hausnummer" not in columns:
        return _single(BASE_SYMBOLS["hausnummern"]), None
    text = f"to_string({_field('hausnummer')})"
    if "zusatz" in columns:
        text += f" || coalesce({_field('zusatz')}, '')"
    return _single(BASE_SYMBOLS["hausnummern"]), Label(text, max_scale=2500, size=7)


def _gebaeude(columns: frozenset[str]) -> Style:
    """Buildings by the thousands of the ALKIS Gebäudefunktion code (Wohnen, Gewerbe, …)."""
    if "funktion" not in columns:
        return _single(BASE_SYMBOLS["gebaeude"]), None
    code = f"to_int({_field('funktion')})"
    groups = (
        (1000, "Wohnen", "Wohngebäude (Funktion 1000–1999)", (232, 150, 140, 255)),
        (2000, "Wirtschaft/Gewerbe", "Wirtschaft und Gewerbe (2000–2999)", (165, 170, 210, 255)),
        (3000, "öffentlich", "öffentliche Zwecke (3000–3999)", (245, 205, 120, 255)),
    )
    # no ELSE: other codes and NULL fall into the '' category ('sonstige')
    expression = (
        "CASE "
        + " ".join(
            f"WHEN {code} >= {low} AND {code} < {low + 1000} THEN '{value}'"
            for low, value, _, _ in groups
        )
        + " END"
    )
    categories = [(value, label, _polygons(color)) for _, value, label, color in groups]
    return _categorized(expression, categories, ("sonstige", BASE_SYMBOLS["gebaeude"])), None


def _tatsaechliche_nutzung(columns: frozenset[str]) -> Style:
    """Land use by Objektartengruppe, in colours close to the ALKIS signature catalogue."""
    if "gruppe" not in columns:
        return _single(BASE_SYMBOLS["tatsaechliche_nutzung"]), None
    groups = (
        ("Siedlung", (240, 205, 200, 255), (200, 150, 145, 255)),
        ("Verkehr", (225, 225, 225, 255), (170, 170, 170, 255)),
        ("Vegetation", (210, 235, 190, 255), (150, 190, 130, 255)),
        ("Gewässer", (170, 210, 240, 255), (100, 160, 210, 255)),
    )
    categories = [(group, group, _polygons(fill, outline, 0.1)) for group, fill, outline in groups]
    other = ("sonstige Nutzung", BASE_SYMBOLS["tatsaechliche_nutzung"])
    return _categorized("gruppe", categories, other), None


def _zensus(columns: frozenset[str]) -> Style:
    """Inhabitants per 100 m cell; cells without a published value stay see-through."""
    if "einwohner" not in columns:
        return _single(BASE_SYMBOLS["zensus_gitter_100m"]), None
    value = _field("einwohner")
    outline = (150, 150, 150, 255)
    classes = (
        (1, 10, "1 – 9", (255, 255, 178, 180)),
        (10, 25, "10 – 24", (254, 204, 92, 180)),
        (25, 50, "25 – 49", (253, 141, 60, 180)),
        (50, 100, "50 – 99", (240, 59, 32, 180)),
        (100, None, "100 und mehr", (189, 0, 38, 180)),
    )
    rules = [
        (
            f"{value} >= {low}" + ("" if high is None else f" AND {value} < {high}"),
            f"{label} Einwohner",
            _polygons(color, outline, 0.1),
        )
        for low, high, label, color in classes
    ]
    rules.append(
        (f"{value} IS NULL", "keine Angabe (geheim gehalten)", (Fill(None, outline, 0.1),))
    )
    return _rule_based("zensus_gitter_100m", rules), None


def _leerstand_aggregiert(columns: frozenset[str]) -> Style:
    """Vacancies per 100 m cell (counts below the publication threshold never occur)."""
    if "leerstaende" not in columns:
        return _single(BASE_SYMBOLS["leerstand_aggregiert"]), None
    outline = (120, 120, 120, 255)
    ranges = [
        (1.0, 4.0, "bis 4 Leerstände", _polygons((203, 201, 226, 200), outline, 0.1)),
        (5.0, 9.0, "5 – 9", _polygons((158, 154, 200, 200), outline, 0.1)),
        (10.0, 19.0, "10 – 19", _polygons((117, 107, 177, 200), outline, 0.1)),
        (20.0, OPEN_END, "20 und mehr", _polygons((84, 39, 143, 200), outline, 0.1)),
    ]
    return _graduated("leerstaende", ranges, "GraduatedColor"), None


def _leerstand(columns: frozenset[str]) -> Style:
    """Vacant properties by use."""
    if "nutzung" not in columns:
        return _single(BASE_SYMBOLS["leerstand"]), None
    uses = (
        ("Wohnen", (215, 48, 39, 255)),
        ("Gewerbe", (69, 117, 180, 255)),
        ("gemischt", (118, 42, 131, 255)),
    )
    categories = [(use, use, (Marker(color, WHITE, 2.4),)) for use, color in uses]
    other = ("sonstige / unbekannt", (Marker((150, 150, 150, 255), WHITE, 2.4),))
    return _categorized("nutzung", categories, other), None


def _verkehrszaehlstellen(columns: frozenset[str]) -> Style:
    """Count stations sized by DTV (Kfz per day), the DTV beside them."""
    if "dtv_kfz" not in columns:
        return _single(BASE_SYMBOLS["verkehrszaehlstellen"]), None
    color = (230, 85, 13, 255)
    ranges = [
        (0.0, 5000.0, "bis 5.000 Kfz/24 h", (Marker(color, WHITE, 2.0),)),
        (5000.0, 10000.0, "über 5.000 bis 10.000", (Marker(color, WHITE, 3.0),)),
        (10000.0, 20000.0, "über 10.000 bis 20.000", (Marker(color, WHITE, 4.2),)),
        (20000.0, 40000.0, "über 20.000 bis 40.000", (Marker(color, WHITE, 5.6),)),
        (40000.0, OPEN_END, "über 40.000", (Marker(color, WHITE, 7.2),)),
    ]
    # format_number follows the QGIS locale: '12.345' for German users
    label = Label(f"format_number({_field('dtv_kfz')}, 0) || ' Kfz/24 h'", max_scale=50000)
    return _graduated("dtv_kfz", ranges, "GraduatedSize"), label


def _bebauungsplaene(columns: frozenset[str]) -> Style:
    """Plan areas hatched in purple, the plan name inside."""
    label = None
    if "name" in columns:
        label = Label(_field("name"), max_scale=25000, color=(90, 0, 90, 255))
    return _single(BASE_SYMBOLS["bebauungsplaene"]), label


def _ueberschwemmungsgebiete(columns: frozenset[str]) -> Style:
    """Flood zones by scenario, see-through so that the less likely ones show beneath."""
    if "szenario" not in columns:
        return _single(BASE_SYMBOLS["ueberschwemmungsgebiete"]), None
    outline = (33, 113, 181, 255)
    categories = [
        (code, label, _polygons(colour, outline, 0.2))
        for code, label, colour in FLOOD_SCENARIO_COLOURS
    ]
    other = ("sonstiges Szenario", BASE_SYMBOLS["ueberschwemmungsgebiete"])
    return _categorized("szenario", categories, other), None


def _gebaeude_hochwasser(columns: frozenset[str]) -> Style:
    """Affected buildings by the most frequent scenario that reaches them: red to orange."""
    if "szenario" not in columns:
        return _single(BASE_SYMBOLS["gebaeude_hochwasser"]), None
    edge = (110, 40, 20, 255)
    categories = [
        ("HQhaeufig", "betroffen ab HQhäufig", _polygons((165, 15, 21, 255), edge, 0.2)),
        ("HQ100", "betroffen ab HQ100", _polygons((222, 45, 38, 255), edge, 0.2)),
        ("HQextrem", "betroffen nur bei HQextrem", _polygons((252, 141, 89, 255), edge, 0.2)),
    ]
    other = ("ohne Angabe", BASE_SYMBOLS["gebaeude_hochwasser"])
    return _categorized("szenario", categories, other), None


def _simple(layer: str) -> Callable[[frozenset[str]], Style]:
    """A style of one symbol, no labels."""
    return lambda columns: (_single(BASE_SYMBOLS[layer]), None)


STYLES: dict[str, Callable[[frozenset[str]], Style]] = {
    "untersuchungsgebiet": _simple("untersuchungsgebiet"),
    "gemeindegrenze": _simple("gemeindegrenze"),
    "flurstuecke": _flurstuecke,
    "hausnummern": _hausnummern,
    "gebaeude": _gebaeude,
    "tatsaechliche_nutzung": _tatsaechliche_nutzung,
    "zensus_gitter_100m": _zensus,
    "leerstand_aggregiert": _leerstand_aggregiert,
    "leerstand": _leerstand,
    "verkehrszaehlstellen": _verkehrszaehlstellen,
    "bebauungsplaene": _bebauungsplaene,
    "ueberschwemmungsgebiete": _ueberschwemmungsgebiete,
    "gebaeude_hochwasser": _gebaeude_hochwasser,
}


def _is_point(layer: str) -> bool:
    """Whether the layer holds points (themes.LAYERS)."""
    return LAYERS[layer].geometry_type.endswith("Point")


def _known(layer: str) -> None:
    """Refuse layers without a style, so a new layer is not shipped unstyled by accident."""
    if layer not in STYLES:
        raise ValueError(f"no QGIS style for layer {layer!r}; known: {', '.join(STYLES)}")


def qml_style(layer: str, columns: Sequence[str]) -> str:
    """The QGIS 3 QML style of a package layer, referring only to columns it has."""
    _known(layer)
    renderer, label = STYLES[layer](frozenset(columns))
    point = _is_point(layer)
    root = etree.Element(
        "qgis",
        version=QGIS_VERSION,
        styleCategories="AllStyleCategories",
        hasScaleBasedVisibilityFlag="0",
        minScale="100000000",
        maxScale="0",
        symbologyReferenceScale="-1",
        labelsEnabled="0" if label is None else "1",
        readOnly="0",
        simplifyAlgorithm="0",
        simplifyDrawingHints="0" if point else "1",
        simplifyDrawingTol="1",
        simplifyLocal="1",
        simplifyMaxScale="1",
    )
    root.append(renderer)
    if label is not None:
        root.append(_labeling(label, point))
    etree.SubElement(root, "blendMode").text = "0"
    etree.SubElement(root, "featureBlendMode").text = "0"
    etree.SubElement(root, "layerOpacity").text = "1"
    # 0 point, 1 line, 2 polygon (Qgis::GeometryType)
    etree.SubElement(root, "layerGeometryType").text = "0" if point else "2"
    text: str = etree.tostring(root, encoding="unicode", pretty_print=True, doctype=QGIS_DOCTYPE)
    return text


SLD_NS = "http://www.opengis.net/sld"
SE_NS = "http://www.opengis.net/se"
OGC_NS = "http://www.opengis.net/ogc"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XLINK_NS = "http://www.w3.org/1999/xlink"


def _se(
    parent: etree._Element, tag: str, text: str | None = None, **attributes: str
) -> etree._Element:
    """A child element in the Symbology Encoding namespace."""
    element = etree.SubElement(parent, f"{{{SE_NS}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def _svg(parent: etree._Element, name: str, value: str) -> None:
    """An se:SvgParameter."""
    _se(parent, "SvgParameter", value, name=name)


def _sld_stroke(parent: etree._Element, color: RGBA, width_mm: float, dashed: bool) -> None:
    """An se:Stroke; SLD widths are pixels (0.28 mm each)."""
    stroke = _se(parent, "Stroke")
    _svg(stroke, "stroke", _hex(color))
    _svg(stroke, "stroke-width", _number(round(width_mm / 0.28, 1)))
    _svg(stroke, "stroke-linejoin", "bevel")
    if dashed:
        _svg(stroke, "stroke-dasharray", "4 2")


def _sld_fill(parent: etree._Element, color: RGBA) -> None:
    """An se:Fill with opacity."""
    fill = _se(parent, "Fill")
    _svg(fill, "fill", _hex(color))
    if color[3] < 255:
        _svg(fill, "fill-opacity", _number(round(color[3] / 255, 2)))


def sld_style(layer: str) -> str:
    """A minimal SLD 1.1 of the layer's basic symbol, for clients that cannot read QML."""
    _known(layer)
    nsmap = {None: SLD_NS, "se": SE_NS, "ogc": OGC_NS, "xlink": XLINK_NS, "xsi": XSI_NS}
    root = etree.Element(f"{{{SLD_NS}}}StyledLayerDescriptor", nsmap=nsmap, version="1.1.0")
    root.set(
        f"{{{XSI_NS}}}schemaLocation",
        "http://www.opengis.net/sld http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd",
    )
    named = etree.SubElement(root, f"{{{SLD_NS}}}NamedLayer")
    _se(named, "Name", layer)
    user_style = etree.SubElement(named, f"{{{SLD_NS}}}UserStyle")
    _se(user_style, "Name", layer)
    rule = _se(_se(user_style, "FeatureTypeStyle"), "Rule")
    _se(rule, "Name", LAYERS[layer].title)
    for part in BASE_SYMBOLS[layer]:
        if isinstance(part, Marker):
            graphic = _se(_se(rule, "PointSymbolizer"), "Graphic")
            mark = _se(graphic, "Mark")
            _se(mark, "WellKnownName", part.shape)
            _sld_fill(mark, part.color)
            _sld_stroke(mark, part.outline, part.outline_width, dashed=False)
            _se(graphic, "Size", _number(round(part.size / 0.28, 1)))
        elif part.brush == "solid":
            symbolizer = _se(rule, "PolygonSymbolizer")
            if part.color is not None:
                _sld_fill(symbolizer, part.color)
            if part.outline_style != "no":
                _sld_stroke(
                    symbolizer, part.outline, part.width, dashed=part.outline_style == "dash"
                )
    text: str = etree.tostring(root, encoding="unicode", pretty_print=True)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text


# --- the GeoPackage table ----------------------------------------------------------------

# the table QGIS creates through OGR (QgsOgrProviderMetadata::saveStyle), as GDAL's GPKG
# driver spells it: widths become TEXT(n), the boolean subtype BOOLEAN, CURRENT_TIMESTAMP
# the GeoPackage datetime format
LAYER_STYLES_COLUMNS = (
    '"id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL',
    '"f_table_catalog" TEXT(256)',
    '"f_table_schema" TEXT(256)',
    '"f_table_name" TEXT(256)',
    '"f_geometry_column" TEXT(256)',
    '"styleName" TEXT(30)',
    '"styleQML" TEXT',
    '"styleSLD" TEXT',
    '"useAsDefault" BOOLEAN',
    '"description" TEXT',
    '"owner" TEXT(30)',
    '"ui" TEXT(30)',
    """"update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))""",
)
CREATE_LAYER_STYLES = 'CREATE TABLE "layer_styles" ( ' + ", ".join(LAYER_STYLES_COLUMNS) + ")"
# GDAL keeps feature counts in gpkg_ogr_contents up to date with these triggers
FEATURE_COUNT_TRIGGERS = (
    'CREATE TRIGGER "trigger_insert_feature_count_layer_styles" AFTER INSERT ON "layer_styles" '
    "BEGIN UPDATE gpkg_ogr_contents SET feature_count = feature_count + 1 "
    "WHERE lower(table_name) = lower('layer_styles'); END",
    'CREATE TRIGGER "trigger_delete_feature_count_layer_styles" AFTER DELETE ON "layer_styles" '
    "BEGIN UPDATE gpkg_ogr_contents SET feature_count = feature_count - 1 "
    "WHERE lower(table_name) = lower('layer_styles'); END",
)


def gpkg_timestamp(timestamp: dt.datetime) -> str:
    """'YYYY-MM-DDTHH:MM:SS.000Z' in UTC, the GeoPackage datetime format; naive means UTC."""
    if timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone(dt.UTC)
    return timestamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _table_exists(connection: sqlite3.Connection, name: str) -> bool:
    """Whether the database has a table of that name."""
    row = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def _check_layers(connection: sqlite3.Connection, layers: Sequence[tuple[str, str, str]]) -> None:
    """Every styled table is a feature table with that geometry column, or QGIS ignores it."""
    columns = dict(connection.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
    for table, geometry_column, _ in layers:
        if columns.get(table) != geometry_column:
            found = columns.get(table)
            raise ValueError(
                f"layer {table!r} with geometry column {geometry_column!r} is not in the "
                f"GeoPackage (geometry column there: {found!r})"
            )


def write_layer_styles(
    gpkg: Path, layers: Sequence[tuple[str, str, str]], timestamp: dt.datetime
) -> None:
    """Store each (table, geometry column, QML) as the layer's default QGIS style."""
    if not gpkg.is_file():
        raise FileNotFoundError(f"GeoPackage not found: {gpkg}")
    stamp = gpkg_timestamp(timestamp)
    # autocommit=False: the CREATE TABLE is part of the transaction too, all or nothing
    with closing(sqlite3.connect(gpkg, autocommit=False)) as connection, connection:
        _check_layers(connection, layers)
        if not _table_exists(connection, "layer_styles"):
            connection.execute(CREATE_LAYER_STYLES)
            if _table_exists(connection, "gpkg_ogr_contents"):
                connection.execute(
                    "INSERT INTO gpkg_ogr_contents (table_name, feature_count) "
                    "VALUES ('layer_styles', 0)"
                )
                for trigger in FEATURE_COUNT_TRIGGERS:
                    connection.execute(trigger)
        # registered as GDAL registers a table without geometry
        connection.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, "
            "last_change, srs_id) VALUES ('layer_styles', 'attributes', 'layer_styles', '', ?, 0) "
            "ON CONFLICT (table_name) DO UPDATE SET last_change = excluded.last_change",
            (stamp,),
        )
        for table, geometry_column, qml in layers:
            # one default per layer: QGIS loads the row with useAsDefault set
            connection.execute(
                "DELETE FROM layer_styles WHERE f_table_name = ? AND f_geometry_column = ? "
                "AND (styleName = ? OR useAsDefault = 1)",
                (table, geometry_column, table),
            )
            info = LAYERS.get(table)
            connection.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                "owner, ui, update_time) VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, '', NULL, ?)",
                (
                    table,
                    geometry_column,
                    table,
                    qml,
                    sld_style(table) if table in STYLES else "",
                    f"Standardstil: {info.title}" if info else "Standardstil",
                    stamp,
                ),
            )
