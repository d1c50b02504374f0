"""Maps and the German report (HTML, PDF) of a planning package, from small synthetic layers."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader
from shapely.geometry import Point, Polygon, box

from planungsdaten.packages.maps import MAP_SIZE_PX, MapImage, render_maps
from planungsdaten.packages.model import Indicator, PackageLayer, ReportInput, SourceUse
from planungsdaten.packages.report import render_html, render_pdf
from planungsdaten.packages.themes import LAYERS

CRS = "EPSG:25832"
X0, Y0 = 693_000.0, 5_688_000.0
ALKIS_ATTRIBUTION = "© GeoBasis-DE / LVermGeo ST (2024), dl-de/by-2-0"
ZENSUS_ATTRIBUTION = "© Statistische Ämter des Bundes und der Länder, Zensus 2022"
DL_DE_BY = "https://www.govdata.de/dl-de/by-2-0"


def _frame(rows: Sequence[Mapping[str, object]], geometries: Sequence[object]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry=geometries, crs=CRS)


def _area() -> Polygon:
    """An L-shaped area of about 100 ha in the middle of the municipality."""
    return Polygon(
        [
            (X0 - 600, Y0 - 500),
            (X0 + 600, Y0 - 500),
            (X0 + 600, Y0 + 100),
            (X0 + 100, Y0 + 100),
            (X0 + 100, Y0 + 500),
            (X0 - 600, Y0 + 500),
        ]
    )


def _parcels(area: Polygon) -> gpd.GeoDataFrame:
    rows: list[dict[str, object]] = []
    geometries: list[object] = []
    for i in range(7):
        for j in range(6):
            cell = box(
                X0 - 700 + i * 200, Y0 - 600 + j * 200, X0 - 500 + i * 200, Y0 - 400 + j * 200
            )
            inside = cell.intersection(area).area
            if inside == 0:
                continue
            number = len(rows) + 1
            rows.append(
                {
                    "flurstueckskennzeichen": f"15123400100{number:05d}______",
                    "gemarkung": "1234",
                    "gemarkung_name": "Musterstadt",
                    "flur": 1,
                    "zaehler": number,
                    "nenner": None,
                    "amtliche_flaeche_m2": cell.area,
                    "lage": f"Mühlenstraße {number}",
                    "anteil_im_gebiet_prozent": 100 * inside / cell.area,
                    "flaeche_im_gebiet_m2": inside,
                }
            )
            geometries.append(cell)
    return _frame(rows, geometries)


def _buildings() -> gpd.GeoDataFrame:
    codes: list[int | None] = [1010, 2000, 3021, 9998, None]
    rows: list[dict[str, object]] = []
    geometries: list[object] = []
    for k in range(40):
        x = X0 - 560 + (k % 8) * 140
        y = Y0 - 460 + (k // 8) * 180
        code = codes[k % len(codes)]
        rows.append(
            {
                "objekt_id": f"DEST{k:012d}",
                "funktion": code,
                "funktion_name": "Wohnhaus" if code == 1010 else "Sonstiges",
                "geschosse": 2,
                "name": None,
                "lage": f"Mühlenstraße {k + 1}",
            }
        )
        geometries.append(box(x, y, x + 30, y + 20))
    return _frame(rows, geometries)


def _land_use(area: Polygon) -> gpd.GeoDataFrame:
    groups = ["Siedlung", "Verkehr", "Vegetation", "Gewässer", "Siedlung", "Vegetation"]
    rows: list[dict[str, object]] = []
    geometries: list[object] = []
    for k, group in enumerate(groups):
        strip = box(X0 - 600 + k * 200, Y0 - 500, X0 - 400 + k * 200, Y0 + 500).intersection(area)
        rows.append(
            {
                "objekt_id": f"DENU{k:012d}",
                "nutzart": group,
                "nutzung": group,
                "gruppe": group,
                "flurstueck": None,
                "flaeche_m2": strip.area,
            }
        )
        geometries.append(strip)
    return _frame(rows, geometries)


def _grid(area: Polygon) -> gpd.GeoDataFrame:
    rows: list[dict[str, object]] = []
    geometries: list[object] = []
    values = [3.0, 12.0, 30.0, 75.0, 140.0, np.nan]
    for i in range(12):
        for j in range(10):
            cell = box(
                X0 - 600 + i * 100, Y0 - 500 + j * 100, X0 - 500 + i * 100, Y0 - 400 + j * 100
            )
            if not cell.intersects(area) or cell.intersection(area).area == 0:
                continue
            rows.append(
                {
                    "gitter_id": f"CRS3035RES100mN{j}E{i}",
                    "anteil_im_gebiet_prozent": 100.0,
                    "einwohner": values[(i + 2 * j) % len(values)],
                }
            )
            geometries.append(cell)
    return _frame(rows, geometries)


def _traffic() -> gpd.GeoDataFrame:
    rows = [
        {"zaehlstelle": "4711", "name": "Musterstadt Nord", "dtv_kfz": 12_345.0},
        {"zaehlstelle": "4712", "name": "Musterstadt Süd", "dtv_kfz": 5_400.0},
        {"zaehlstelle": "4713", "name": "Mühlenweg", "dtv_kfz": np.nan},
    ]
    points = [Point(X0 - 300, Y0 + 300), Point(X0 + 400, Y0 - 200), Point(X0 - 100, Y0 - 400)]
    return _frame(rows, points)


def _plans() -> gpd.GeoDataFrame:
    rows = [
        {
            "objekt_id": "BP1",
            "name": "Wohngebiet Am Mühlenteich",
            "nummer": "12",
            "planart": "BPlan",
            "rechtsstand": "In Kraft",
            "in_kraft_seit": "2019-03-01",
            "gemeinde": "Musterstadt",
            "dokumente": None,
        }
    ]
    return _frame(rows, [box(X0 - 500, Y0 + 150, X0 - 150, Y0 + 450)])


def _addresses() -> gpd.GeoDataFrame:
    rows = [
        {"strasse": "Mühlenstraße", "hausnummer": str(k), "zusatz": None, "postleitzahl": "06108"}
        for k in range(1, 6)
    ]
    return _frame(rows, [Point(X0 - 500 + 60 * k, Y0 - 300) for k in range(5)])


def _empty_vacancy() -> gpd.GeoDataFrame:
    columns = ["einheit", "einheit_id", "leerstaende", "davon_wohnen", "davon_gewerbe"]
    return gpd.GeoDataFrame({name: [] for name in columns}, geometry=[], crs=CRS)


def _layer(name: str, frame: gpd.GeoDataFrame) -> PackageLayer:
    info = LAYERS[name]
    return PackageLayer(name, info.title, info.theme, frame, info.restricted)


def _source(source_id: str, table: str, title: str, attribution: str) -> SourceUse:
    return SourceUse(
        source_id=source_id,
        title=title,
        publisher="Landesamt für Vermessung und Geoinformation Sachsen-Anhalt",
        licence=DL_DE_BY,
        attribution=attribution,
        access="open",
        version_id=7,
        target_table=table,
        layer=table,
        published_at=dt.datetime(2024, 3, 15, 10, 30, tzinfo=dt.UTC),
        checksum_sha256="0" * 64,
        feature_count=1234,
    )


def build_report() -> ReportInput:
    """A small ReportInput: most layers present, the vacancy layer present but empty."""
    area = _area()
    municipality = box(X0 - 3000, Y0 - 3000, X0 + 3000, Y0 + 3000)
    layers = [
        _layer("untersuchungsgebiet", _frame([{"name": "Altstadt", "flaeche_ha": 96.0}], [area])),
        _layer(
            "gemeindegrenze",
            _frame([{"ags": "15002000", "name": "Musterstadt", "kreis": "X"}], [municipality]),
        ),
        _layer("flurstuecke", _parcels(area)),
        _layer("hausnummern", _addresses()),
        _layer("gebaeude", _buildings()),
        _layer("tatsaechliche_nutzung", _land_use(area)),
        _layer("zensus_gitter_100m", _grid(area)),
        _layer("leerstand_aggregiert", _empty_vacancy()),
        _layer("verkehrszaehlstellen", _traffic()),
        _layer("bebauungsplaene", _plans()),
    ]
    indicators = [
        Indicator(
            "flaeche_ha",
            "Gebiet",
            "Fläche",
            "ha",
            96.0,
            3600.0,
            "Geometrie des Gebiets",
            "",
            "Fläche der Geometrie in EPSG:25832.",
        ),
        Indicator(
            "einwohner",
            "population",
            "Einwohner",
            "EW",
            1234.5,
            45678.9,
            "zensus",
            "2022-05-15",
            "Summe der Einwohner der Gitterzellen, gewichtet mit dem Flächenanteil im Gebiet.",
        ),
        Indicator(
            "dichte",
            "population",
            "Einwohnerdichte",
            "EW/ha",
            12.86,
            2.3,
            "zensus",
            "2022-05-15",
            "Einwohner je Hektar Gebietsfläche.",
            decimals=2,
        ),
        Indicator(
            "flurstuecke",
            "cadastre",
            "Flurstücke im Gebiet",
            "Anzahl",
            30,
            None,
            "alkis",
            "2024-03-15",
            "Flurstücke, die das Gebiet schneiden.",
            decimals=0,
        ),
    ]
    sources = [
        _source("alkis", "parcel", "ALKIS Flurstücke Sachsen-Anhalt", ALKIS_ATTRIBUTION),
        _source(
            "zensus", "grid_value", "Zensus 2022 – Bevölkerung im 100-m-Gitter", ZENSUS_ATTRIBUTION
        ),
    ]
    return ReportInput(
        title="Planungsdaten für das ISEK Musterstadt",
        area_name="Altstadt",
        municipality_names=["Musterstadt"],
        area_ha=96.0,
        data_date=dt.date(2024, 3, 15),
        themes=[
            ("cadastre", "Liegenschaftskataster (Flurstücke, Adressen)"),
            ("population", "Bevölkerung und Wohnen (Zensus 2022)"),
        ],
        output_crs="EPSG:25832",
        layers=layers,
        area=area,
        municipality=municipality,
        indicators=indicators,
        sources=sources,
        notes=["Werte unter 3 Einwohnern sind im Zensus geheim gehalten (Größenordnung „≥ 0“)."],
    )


EXPECTED_MAPS = [
    "karte_uebersicht",
    "karte_flurstuecke",
    "karte_gebaeude",
    "karte_nutzung",
    "karte_einwohner",
    "karte_verkehr",
    "karte_bebauungsplaene",
]


@pytest.fixture(scope="module")
def report() -> ReportInput:
    return build_report()


@pytest.fixture(scope="module")
def maps(report: ReportInput) -> list[MapImage]:
    return render_maps(report)


def test_maps_for_present_layers_only(maps: list[MapImage]) -> None:
    assert [m.name for m in maps] == EXPECTED_MAPS  # leerstand_aggregiert has zero rows
    assert all(m.title and m.caption for m in maps)


def test_map_pngs_decode_with_size_and_content(maps: list[MapImage]) -> None:
    for image in maps:
        with Image.open(io.BytesIO(image.png)) as png:
            assert png.format == "PNG"
            assert png.size == MAP_SIZE_PX
            colours = png.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 20, image.name


def test_maps_are_deterministic(report: ReportInput, maps: list[MapImage]) -> None:
    assert [m.png for m in render_maps(report)] == [m.png for m in maps]


def test_vacancy_map_with_aggregates_and_restricted_points() -> None:
    base = build_report()
    units = gpd.GeoDataFrame(
        {"einheit": ["Block", "Block"], "einheit_id": ["B1", "B2"], "leerstaende": [4, np.nan]},
        geometry=[box(X0 - 600, Y0 - 500, X0, Y0), box(X0, Y0 - 500, X0 + 600, Y0 + 100)],
        crs=CRS,
    )
    points = gpd.GeoDataFrame(
        {"lfd_nr": [1, 2], "nutzung": ["Wohnen", "Gewerbe"]},
        geometry=[Point(X0 - 200, Y0 - 200), Point(X0 + 200, Y0 - 100)],
        crs=CRS,
    )
    layers = [
        _layer("leerstand_aggregiert", units) if layer.name == "leerstand_aggregiert" else layer
        for layer in base.layers
    ] + [_layer("leerstand", points)]
    maps = render_maps(replace(base, layers=layers))
    names = [m.name for m in maps]
    assert "karte_leerstand" in names
    vacancy = maps[names.index("karte_leerstand")]
    assert "nur für Berechtigte" in vacancy.caption


def test_only_overview_without_theme_layers() -> None:
    base = build_report()
    empty = [
        replace(layer, frame=layer.frame.iloc[0:0]) if layer.theme else layer
        for layer in base.layers
    ]
    maps = render_maps(replace(base, layers=empty))
    assert [m.name for m in maps] == ["karte_uebersicht"]
    html = render_html(replace(base, layers=empty), maps)
    assert html.count('<img src="data:image/png;base64,') == 1
    assert len(PdfReader(io.BytesIO(render_pdf(replace(base, layers=empty), maps))).pages) >= 3


@pytest.fixture(scope="module")
def html(report: ReportInput, maps: list[MapImage]) -> str:
    return render_html(report, maps)


def test_html_content(report: ReportInput, maps: list[MapImage], html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert '<html lang="de">' in html
    assert "Planungsdaten für das ISEK Musterstadt" in html
    assert "Datenstand: 15.03.2024" in html
    assert "1.234,5" in html and "45.678,9" in html and "12,86" in html
    for heading in (
        "Kennzahlen",
        "Karten",
        "Datengrundlagen",
        "Lizenzen und Namensnennung",
        "Methodische Hinweise",
        "Inhalt des Pakets",
    ):
        assert f">{heading}</h2>" in html
    for source in report.sources:
        assert source.attribution in html
    assert html.count('<img src="data:image/png;base64,') == len(maps)
    assert "nur für Berechtigte" not in html.split('id="paket"')[1]  # no restricted layer here
    assert '<th scope="col">Indikator</th>' in html
    groups = re.findall(r'<h3 id="kennzahlen-\d+">([^<]+)</h3>', html)
    assert groups == [
        "Gebiet",
        "Liegenschaftskataster (Flurstücke, Adressen)",
        "Bevölkerung und Wohnen (Zensus 2022)",
    ]


def test_html_has_no_external_resources(html: str) -> None:
    assert not re.search(r"""\bsrc\s*=\s*["']?(https?:)?//""", html)
    for link in re.findall(r"""\bhref\s*=\s*["']?([^"'\s>]+)""", html):
        assert link.startswith("#") or link == DL_DE_BY, link
    assert "@import" not in html and "url(" not in html


def test_html_marks_restricted_layers() -> None:
    base = build_report()
    points = gpd.GeoDataFrame({"lfd_nr": [1]}, geometry=[Point(X0, Y0)], crs=CRS)
    report = replace(base, layers=[*base.layers, _layer("leerstand", points)])
    html = render_html(report, [])
    contents = html.split('id="paket"')[1]
    assert "Leerstandskataster (Einzeldaten)" in contents
    assert "nur für Berechtigte" in contents


@pytest.fixture(scope="module")
def pdf(report: ReportInput, maps: list[MapImage]) -> bytes:
    return render_pdf(report, maps)


def test_pdf_content(report: ReportInput, maps: list[MapImage], pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= 3
    assert sum(len(page.images) for page in reader.pages) >= len(maps)
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert report.title in text
    assert "Datenstand" in text
    assert "Flurstücke" in text
    assert "1.234,5" in text
    assert "Seite 2" in text
    assert "LVermGeo ST" in text and "Statistische Ämter" in text
    assert reader.metadata is not None
    assert reader.metadata.title == report.title
    assert reader.metadata.author == "planungsdaten"


def test_pdf_is_deterministic(report: ReportInput, maps: list[MapImage], pdf: bytes) -> None:
    assert render_pdf(report, maps) == pdf


def test_pdf_splits_long_tables() -> None:
    base = build_report()
    many = [
        Indicator(
            f"k{n}",
            "population",
            f"Kennzahl Nummer {n}",
            "EW",
            n * 1.5,
            n * 3.0,
            "zensus",
            "2022-05-15",
            "Gezählt.",
        )
        for n in range(120)
    ]
    reader = PdfReader(io.BytesIO(render_pdf(replace(base, indicators=many), [])))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Kennzahl Nummer 119" in text
    pages_with_header = [p for p in reader.pages if "Indikator" in p.extract_text()]
    assert len(pages_with_header) >= 3  # the header row repeats on every page of the table


def test_planner_text_is_escaped_not_interpreted() -> None:
    title = "Müller & Söhne <b>Nord</b> „Alt“"
    report = replace(build_report(), title=title, area_name="Süd <script>x</script>")
    html = render_html(report, [])
    assert "<script>" not in html and "<b>Nord" not in html
    assert "Müller &amp; Söhne &lt;b&gt;Nord&lt;/b&gt; „Alt“" in html
    text = PdfReader(io.BytesIO(render_pdf(report, []))).pages[0].extract_text()
    assert "Müller & Söhne <b>Nord</b> „Alt“" in text
