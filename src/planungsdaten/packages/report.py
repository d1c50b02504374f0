"""The German report of a planning package, as self-contained HTML and as PDF (A4)."""

from __future__ import annotations

import base64
import functools
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import matplotlib
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    Image,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.tableofcontents import TableOfContents

from planungsdaten.formatting import format_date, format_number
from planungsdaten.packages.maps import MAP_SIZE_PX, MapImage
from planungsdaten.packages.model import Indicator, ReportInput
from planungsdaten.packages.themes import THEMES
from planungsdaten.templating import environment

AUTHOR = "planungsdaten"
RESTRICTED_NOTE = "nur für Berechtigte"

# section anchors and headings, in the order both renderers show them
SECTIONS: tuple[tuple[str, str], ...] = (
    ("kennzahlen", "Kennzahlen"),
    ("karten", "Karten"),
    ("datengrundlagen", "Datengrundlagen"),
    ("lizenzen", "Lizenzen und Namensnennung"),
    ("methodik", "Methodische Hinweise"),
    ("paket", "Inhalt des Pakets"),
)
INDICATOR_COLUMNS = ("Indikator", "Einheit", "Gebiet", "Gemeinde", "Quelle", "Stand")
SOURCE_COLUMNS = ("Titel", "Herausgeber", "Version", "Veröffentlicht", "Objekte")
LAYER_COLUMNS = ("Ebene", "GeoPackage-Layer", "Objekte", "Zugang")
RASTER_COLUMNS = ("Raster", "Datei", "Zellgröße", "Inhalt")


# --- what both renderers show ---------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorRow:
    """An indicator as printed: every value already German text."""

    label: str
    unit: str
    area: str
    municipality: str
    source: str
    reference_date: str


@dataclass(frozen=True)
class IndicatorGroup:
    """The indicators of one theme."""

    theme: str
    rows: list[IndicatorRow]


@dataclass(frozen=True)
class SourceRow:
    """A dataset version the package was built from, with its licence and attribution."""

    title: str
    publisher: str
    version: str
    published: str
    features: str
    licence: str
    licence_url: str | None
    attribution: str
    restricted: bool


@dataclass(frozen=True)
class LayerRow:
    """A layer of the package as listed in the report."""

    title: str
    name: str
    rows: str
    restricted: bool


@dataclass(frozen=True)
class RasterRow:
    """A raster file of the package as listed in the report."""

    title: str
    name: str
    resolution: str
    bands: str


@dataclass(frozen=True)
class MapFigure:
    """A map as the report shows it: numbered, with alt text and the PNG as base64."""

    anchor: str
    number: int
    title: str
    caption: str
    alt: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class ReportContent:
    """Everything the report says, as German text, shared by the HTML and PDF renderers."""

    title: str
    area_name: str
    municipalities: str
    area: str
    data_date: str
    themes: list[str]
    crs: str
    sections: tuple[tuple[str, str], ...]
    indicator_groups: list[IndicatorGroup]
    figures: list[MapFigure]
    sources: list[SourceRow]
    notes: list[str]
    methods: list[tuple[str, str]]
    layers: list[LayerRow]
    rasters: list[RasterRow]


def report_content(report: ReportInput, maps: list[MapImage]) -> ReportContent:
    """The report's text, numbers and dates formatted the German way."""
    return ReportContent(
        title=report.title,
        area_name=report.area_name,
        municipalities=", ".join(report.municipality_names),
        area=f"{format_number(report.area_ha, 1)} ha",
        data_date=format_date(report.data_date),
        themes=[label for _, label in report.themes],
        crs=report.output_crs,
        sections=SECTIONS,
        indicator_groups=_indicator_groups(report),
        figures=[
            MapFigure(
                anchor=image.name,
                number=number,
                title=image.title,
                caption=image.caption,
                alt=f"Karte „{image.title}“ für {report.area_name}: {image.caption}",
                png=image.png,
            )
            for number, image in enumerate(maps, start=1)
        ],
        sources=[
            SourceRow(
                title=source.title,
                publisher=source.publisher,
                version=str(source.version_id),
                published=format_date(source.published_at),
                features=format_number(source.feature_count, 0),
                licence=source.licence,
                licence_url=source.licence if _is_web_address(source.licence) else None,
                attribution=source.attribution,
                restricted=source.access == "restricted",
            )
            for source in report.sources
        ],
        notes=list(report.notes),
        methods=[(i.label, i.method) for i in report.indicators if i.method],
        layers=[
            LayerRow(layer.title, layer.name, format_number(len(layer.frame), 0), layer.restricted)
            for layer in report.layers
        ],
        rasters=[
            RasterRow(
                title=raster.title,
                name=raster.name,
                resolution=f"{format_number(raster.resolution_m, 0)} m",
                bands="; ".join(
                    f"{band.get('description') or band.get('name')}"
                    + (f" ({band['unit']})" if band.get("unit") else "")
                    for band in raster.bands
                ),
            )
            for raster in report.rasters
        ],
    )


def _is_web_address(text: str) -> bool:
    return text.startswith(("https://", "http://")) and not any(c in text for c in " \"'<>")


def _indicator_groups(report: ReportInput) -> list[IndicatorGroup]:
    """Indicators grouped by theme in the package's order; theme-less ones ("Gebiet") first."""
    labels = {theme.id: theme.label for theme in THEMES.values()}
    labels.update(dict(report.themes))
    order = [theme_id for theme_id, _ in report.themes] + list(THEMES)
    source_titles = {source.source_id: source.title for source in report.sources}
    grouped: dict[str, list[Indicator]] = {}
    for indicator in report.indicators:
        grouped.setdefault(indicator.theme, []).append(indicator)

    def rank(theme_id: str) -> tuple[int, str]:
        return (order.index(theme_id) + 1 if theme_id in order else 0, theme_id)

    return [
        IndicatorGroup(
            theme=labels.get(theme_id, theme_id),
            rows=[
                IndicatorRow(
                    label=i.label,
                    unit=i.unit,
                    area=format_number(i.area, i.decimals),
                    municipality=format_number(i.municipality, i.decimals),
                    source=source_titles.get(i.source, i.source),
                    reference_date=format_date(i.reference_date) if i.reference_date else "–",
                )
                for i in grouped[theme_id]
            ],
        )
        for theme_id in sorted(grouped, key=rank)
    ]


# --- HTML ------------------------------------------------------------------------------------


def render_html(report: ReportInput, maps: list[MapImage]) -> str:
    """The report as one self-contained HTML5 page: inline CSS, maps as data URIs."""
    template = environment("planungsdaten.packages").get_template("bericht.html.j2")
    return template.render(report=report_content(report, maps), map_size=MAP_SIZE_PX)


# --- PDF -------------------------------------------------------------------------------------

_FONT = "DejaVuSans"
_FONT_BOLD = "DejaVuSans-Bold"
_FONT_LOCK = threading.Lock()
_MARGIN = 2 * cm
_PORTRAIT_WIDTH = A4[0] - 2 * _MARGIN
_LANDSCAPE = landscape(A4)
_MAP_MARGIN = 1.2 * cm


def _setup_reportlab() -> None:
    """DejaVu Sans from matplotlib's files, once per process (umlauts, ß, „“, –, ², ≥)."""
    with _FONT_LOCK:
        if _FONT in pdfmetrics.getRegisteredFontNames():
            return
        # binary streams: reportlab's pure-Python ASCII85 encoder doubles the time a report
        # with maps takes and makes the file a quarter bigger; no PDF reader needs ASCII85
        rl_config.useA85 = 0
        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont(_FONT, str(folder / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(_FONT_BOLD, str(folder / "DejaVuSans-Bold.ttf")))
        pdfmetrics.registerFontFamily(
            _FONT, normal=_FONT, bold=_FONT_BOLD, italic=_FONT, boldItalic=_FONT_BOLD
        )


@dataclass(frozen=True)
class _Styles:
    body: ParagraphStyle
    small: ParagraphStyle
    small_right: ParagraphStyle
    header: ParagraphStyle
    header_right: ParagraphStyle
    bullet: ParagraphStyle
    caption: ParagraphStyle
    quote: ParagraphStyle
    cover_title: ParagraphStyle
    cover_line: ParagraphStyle
    h2: ParagraphStyle
    h3: ParagraphStyle
    toc: ParagraphStyle


def _styles() -> _Styles:
    body = ParagraphStyle("Text", fontName=_FONT, fontSize=10, leading=14, spaceAfter=6)
    small = ParagraphStyle("Klein", parent=body, fontSize=8.5, leading=11, spaceAfter=0)
    header = ParagraphStyle("Kopf", parent=small, fontName=_FONT_BOLD)
    return _Styles(
        body=body,
        small=small,
        small_right=ParagraphStyle("KleinRechts", parent=small, alignment=TA_RIGHT),
        header=header,
        header_right=ParagraphStyle("KopfRechts", parent=header, alignment=TA_RIGHT),
        caption=ParagraphStyle(
            "Bildunterschrift",
            parent=body,
            fontSize=9,
            leading=12,
            textColor=colors.HexColor("#333333"),
        ),
        quote=ParagraphStyle(
            "Zitat",
            parent=body,
            leftIndent=14,
            borderPadding=(5, 6, 5, 6),
            backColor=colors.HexColor("#f2f2f2"),
            spaceBefore=4,
            spaceAfter=10,
        ),
        cover_title=ParagraphStyle(
            "Titel", parent=body, fontName=_FONT_BOLD, fontSize=24, leading=30, spaceAfter=18
        ),
        cover_line=ParagraphStyle("Titelzeile", parent=body, fontSize=12, leading=18),
        h2=ParagraphStyle(
            "H2",
            parent=body,
            fontName=_FONT_BOLD,
            fontSize=16,
            leading=20,
            spaceBefore=6,
            spaceAfter=10,
            keepWithNext=1,
        ),
        h3=ParagraphStyle(
            "H3",
            parent=body,
            fontName=_FONT_BOLD,
            fontSize=12,
            leading=15,
            spaceBefore=10,
            spaceAfter=6,
            keepWithNext=1,
        ),
        toc=ParagraphStyle("Inhalt", parent=body, fontSize=11, leading=16),
        bullet=ParagraphStyle("Punkt", parent=body, leftIndent=14, bulletIndent=2),
    )


class _Heading(Paragraph):
    """A heading that goes into the PDF outline (and, at level 0, the table of contents)."""

    def __init__(self, text: str, style: ParagraphStyle, level: int, key: str) -> None:
        super().__init__(escape(text), style)
        self.outline_text = text
        self.outline_level = level
        self.outline_key = key


class _ReportDocument(BaseDocTemplate):
    """A4 portrait pages for text, A4 landscape pages for maps; footer on every page."""

    def __init__(self, buffer: io.BytesIO, report: ReportInput) -> None:
        super().__init__(
            buffer,
            pagesize=A4,
            leftMargin=_MARGIN,
            rightMargin=_MARGIN,
            topMargin=_MARGIN,
            bottomMargin=_MARGIN,
            title=report.title,
            author=AUTHOR,
            subject=f"Planungsdaten für {report.area_name} "
            f"({', '.join(report.municipality_names)})",
            creator=AUTHOR,
            keywords=["ISEK", "IGEK", "Planungsdaten", report.area_name],
            lang="de-DE",
            displayDocTitle=1,
            invariant=1,
            pageCompression=1,
        )
        footer = functools.partial(_footer, title=report.title)
        portrait = Frame(_MARGIN, _MARGIN, _PORTRAIT_WIDTH, A4[1] - 2 * _MARGIN, id="text")
        wide = Frame(
            _MAP_MARGIN,
            _MAP_MARGIN,
            _LANDSCAPE[0] - 2 * _MAP_MARGIN,
            _LANDSCAPE[1] - 2 * _MAP_MARGIN,
            id="karte",
        )
        self.addPageTemplates(
            [
                PageTemplate("hoch", [portrait], onPage=footer, pagesize=A4),
                PageTemplate("quer", [wide], onPage=footer, pagesize=_LANDSCAPE),
            ]
        )

    def afterFlowable(self, flowable: Flowable) -> None:
        if isinstance(flowable, _Heading):
            self.canv.bookmarkPage(flowable.outline_key)
            self.canv.addOutlineEntry(
                flowable.outline_text, flowable.outline_key, level=flowable.outline_level
            )
            if flowable.outline_level == 0:
                self.notify(
                    "TOCEntry", (0, escape(flowable.outline_text), self.page, flowable.outline_key)
                )


def _footer(canvas: Canvas, document: BaseDocTemplate, title: str) -> None:
    width = document.pageTemplate.pagesize[0]
    margin, baseline = (_MARGIN, 1.0 * cm) if width < A4[1] else (_MAP_MARGIN, 0.6 * cm)
    canvas.saveState()
    canvas.setFont(_FONT, 8)
    canvas.setFillColor(colors.HexColor("#444444"))
    canvas.drawString(margin, baseline, title)
    canvas.drawRightString(width - margin, baseline, f"Seite {document.page}")
    canvas.restoreState()


def render_pdf(report: ReportInput, maps: list[MapImage]) -> bytes:
    """The report as an A4 PDF; the same input gives the same bytes."""
    _setup_reportlab()
    content = report_content(report, maps)
    styles = _styles()
    builders: dict[str, Callable[[ReportContent, _Styles], list[Flowable]]] = {
        "kennzahlen": _indicators,
        "karten": _figures,
        "datengrundlagen": _sources,
        "lizenzen": _licences,
        "methodik": _methods,
        "paket": _package,
    }
    story = _cover(content, styles)
    for key, title in content.sections:
        story += [_Heading(title, styles.h2, 0, key), *builders[key](content, styles)]
    buffer = io.BytesIO()
    # two passes: the first finds the page of each section for the table of contents
    _ReportDocument(buffer, report).multiBuild(story)
    return buffer.getvalue()


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _cover(content: ReportContent, styles: _Styles) -> list[Flowable]:
    lines = [
        ("Gebiet", content.area_name),
        ("Gemeinde(n)", content.municipalities),
        ("Fläche", content.area),
        ("Datenstand", content.data_date),
        ("Themen", ", ".join(content.themes) or "–"),
        ("Koordinatenreferenzsystem", content.crs),
    ]
    toc = TableOfContents(dotsMinLevel=0)
    toc.levelStyles = [ParagraphStyle("TOC0", parent=styles.toc, leftIndent=0, firstLineIndent=0)]
    return [
        Spacer(1, 3 * cm),
        _p(content.title, styles.cover_title),
        *[
            Paragraph(f"{escape(label)}: {escape(value)}", styles.cover_line)
            for label, value in lines
        ],
        Spacer(1, 1.5 * cm),
        Paragraph("Inhalt", styles.h2),
        toc,
        PageBreak(),
    ]


def _table(
    header: tuple[str, ...],
    rows: list[list[str]],
    widths: list[float],
    styles: _Styles,
    right: tuple[int, ...] = (),
) -> Table:
    """A table that splits across pages and repeats its header row on each."""
    cells: list[list[Flowable]] = [
        [
            _p(text, styles.header_right if column in right else styles.header)
            for column, text in enumerate(header)
        ]
    ]
    for row in rows:
        cells.append(
            [
                _p(text, styles.small_right if column in right else styles.small)
                for column, text in enumerate(row)
            ]
        )
    table = Table(cells, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6ee")),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.HexColor("#456")),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f5f7f9")]),
                ("LINEBELOW", (0, -1), (-1, -1), 0.5, colors.HexColor("#999999")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return table


def _indicators(content: ReportContent, styles: _Styles) -> list[Flowable]:
    if not content.indicator_groups:
        return [_p("Für dieses Gebiet liegen keine Kennzahlen vor.", styles.body)]
    widths = [c * cm for c in (4.6, 1.8, 2.2, 2.3, 3.7, 2.4)]
    flowables: list[Flowable] = []
    for number, group in enumerate(content.indicator_groups):
        rows = [
            [r.label, r.unit, r.area, r.municipality, r.source, r.reference_date]
            for r in group.rows
        ]
        flowables += [
            _Heading(group.theme, styles.h3, 1, f"kennzahlen-{number}"),
            _table(INDICATOR_COLUMNS, rows, widths, styles, right=(2, 3)),
        ]
    return flowables


def _figures(content: ReportContent, styles: _Styles) -> list[Flowable]:
    """A list of the maps, then each map on a landscape page of its own."""
    if not content.figures:
        return [_p("Für dieses Paket wurden keine Karten erstellt.", styles.body)]
    flowables: list[Flowable] = [
        _p("Die folgenden Karten sind aus den Daten des Pakets gezeichnet:", styles.body),
        *[
            Paragraph(f"Abbildung {f.number}: {escape(f.title)}", styles.bullet, bulletText="•")
            for f in content.figures
        ],
    ]
    frame_width = _LANDSCAPE[0] - 2 * _MAP_MARGIN - 12  # the frame's own padding
    room = _LANDSCAPE[1] - 2 * _MAP_MARGIN - 2.3 * cm  # heading and a two-line caption
    width = min(frame_width, room * MAP_SIZE_PX[0] / MAP_SIZE_PX[1])
    height = width * MAP_SIZE_PX[1] / MAP_SIZE_PX[0]
    for figure in content.figures:
        flowables += [
            NextPageTemplate("quer"),
            PageBreak(),
            KeepTogether(
                [
                    _Heading(
                        f"Abbildung {figure.number}: {figure.title}", styles.h3, 1, figure.anchor
                    ),
                    Image(io.BytesIO(figure.png), width=width, height=height, hAlign="LEFT"),
                    _p(figure.caption, styles.caption),
                ]
            ),
        ]
    return [*flowables, NextPageTemplate("hoch"), PageBreak()]


def _sources(content: ReportContent, styles: _Styles) -> list[Flowable]:
    if not content.sources:
        return [_p("Keine Datengrundlagen verzeichnet.", styles.body)]
    rows = [[s.title, s.publisher, s.version, s.published, s.features] for s in content.sources]
    widths = [c * cm for c in (5.2, 4.6, 1.8, 3.2, 2.2)]
    return [_table(SOURCE_COLUMNS, rows, widths, styles, right=(2, 4))]


def _licences(content: ReportContent, styles: _Styles) -> list[Flowable]:
    flowables: list[Flowable] = [
        _p(
            "Bei jeder Veröffentlichung von Inhalten dieses Pakets ist die Namensnennung der "
            "jeweiligen Quelle wie angegeben wiederzugeben.",
            styles.body,
        )
    ]
    for number, source in enumerate(content.sources):
        licence = escape(source.licence)
        if source.licence_url:
            licence = f'<link href="{escape(source.licence_url)}" color="#1f4e79">{licence}</link>'
        block: list[Flowable] = [
            _Heading(source.title, styles.h3, 1, f"lizenz-{number}"),
            Paragraph(f"Lizenz: {licence}", styles.body),
            _p("Namensnennung:", styles.body),
            _p(source.attribution, styles.quote),
        ]
        if source.restricted:
            block.append(
                _p(f"Zugang: {RESTRICTED_NOTE}; nicht zur Veröffentlichung bestimmt.", styles.body)
            )
        flowables.append(KeepTogether(block))
    return flowables


def _methods(content: ReportContent, styles: _Styles) -> list[Flowable]:
    flowables: list[Flowable] = [
        Paragraph(escape(note), styles.bullet, bulletText="•") for note in content.notes
    ]
    if content.methods:
        flowables.append(_p("Berechnung der Kennzahlen", styles.h3))
        for label, method in content.methods:
            flowables.append(Paragraph(f"<b>{escape(label)}:</b> {escape(method)}", styles.body))
    if not flowables:
        flowables.append(_p("Keine besonderen Hinweise.", styles.body))
    return flowables


def _package(content: ReportContent, styles: _Styles) -> list[Flowable]:
    rows = [
        [layer.title, layer.name, layer.rows, RESTRICTED_NOTE if layer.restricted else "offen"]
        for layer in content.layers
    ]
    widths = [c * cm for c in (6.2, 5.0, 2.3, 3.5)]
    flowables: list[Flowable] = [
        _p("Die Ebenen liegen in der GeoPackage-Datei des Pakets.", styles.body),
        _table(LAYER_COLUMNS, rows, widths, styles, right=(2,)),
    ]
    if content.rasters:
        raster_rows = [[r.title, r.name, r.resolution, r.bands] for r in content.rasters]
        flowables += [
            _p(
                "Rasterdaten liegen als Cloud-Optimized GeoTIFF (EPSG:25832), auf das Gebiet "
                "zugeschnitten, im Ordner „raster“.",
                styles.body,
            ),
            _table(RASTER_COLUMNS, raster_rows, [c * cm for c in (5.0, 4.5, 2.3, 5.2)], styles),
        ]
    return flowables
