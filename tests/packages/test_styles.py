"""QGIS styles: QML per layer, and the layer_styles table in a real GeoPackage."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from lxml import etree
from shapely.geometry import MultiPolygon, Point, box

from planungsdaten.packages.styles import qml_style, sld_style, write_layer_styles
from planungsdaten.packages.themes import LAYERS

STAMP = dt.datetime(2024, 6, 25, 12, 0, tzinfo=dt.UTC)
OGR_DATE = "2024-06-25T00:00:00.000Z"

# every column the package layers carry that a style may use
COLUMNS: dict[str, list[str]] = {
    "untersuchungsgebiet": ["name", "flaeche_ha"],
    "gemeindegrenze": ["ags", "name", "kreis"],
    "flurstuecke": ["flurstueckskennzeichen", "zaehler", "nenner", "lage"],
    "hausnummern": ["strasse", "hausnummer", "zusatz"],
    "gebaeude": ["objekt_id", "funktion", "funktion_name"],
    "tatsaechliche_nutzung": ["nutzart", "nutzung", "gruppe"],
    "zensus_gitter_100m": ["gitter_id", "einwohner"],
    "leerstand_aggregiert": ["einheit_id", "leerstaende"],
    "leerstand": ["lfd_nr", "nutzung", "status"],
    "verkehrszaehlstellen": ["zaehlstelle", "name", "dtv_kfz"],
    "bebauungsplaene": ["objekt_id", "name", "nummer"],
    "ueberschwemmungsgebiete": ["objekt_id", "szenario", "szenario_name", "art", "wassertiefe"],
    "gebaeude_hochwasser": ["objekt_id", "funktion", "szenario", "in_hq100", "in_hqextrem"],
}
EXPECTED = {
    "untersuchungsgebiet": ("singleSymbol", None, False),
    "gemeindegrenze": ("singleSymbol", None, False),
    "flurstuecke": ("singleSymbol", None, True),
    "hausnummern": ("singleSymbol", None, True),
    "gebaeude": ("categorizedSymbol", "funktion", False),
    "tatsaechliche_nutzung": ("categorizedSymbol", "gruppe", False),
    "zensus_gitter_100m": ("RuleRenderer", "einwohner", False),
    "leerstand_aggregiert": ("graduatedSymbol", "leerstaende", False),
    "leerstand": ("categorizedSymbol", "nutzung", False),
    "verkehrszaehlstellen": ("graduatedSymbol", "dtv_kfz", True),
    "bebauungsplaene": ("singleSymbol", None, True),
    "ueberschwemmungsgebiete": ("categorizedSymbol", "szenario", False),
    "gebaeude_hochwasser": ("categorizedSymbol", "szenario", False),
}


def _parse(qml: str) -> etree._Element:
    assert qml.startswith("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>")
    root = etree.fromstring(qml.encode())
    assert root.tag == "qgis"
    assert root.get("version", "").startswith("3.34")
    assert root.get("styleCategories") == "AllStyleCategories"
    return root


def _renderer_text(renderer: etree._Element) -> str:
    """Everything in the renderer that may name a column: attr and rule filters."""
    filters = [rule.get("filter", "") for rule in renderer.iter("rule")]
    return " ".join([renderer.get("attr", ""), *filters])


def test_every_layer_has_a_style() -> None:
    assert set(COLUMNS) == set(LAYERS)


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_qml_renderer_and_labels(layer: str) -> None:
    kind, column, labelled = EXPECTED[layer]

    root = _parse(qml_style(layer, COLUMNS[layer]))

    renderer = root.find("renderer-v2")
    assert renderer is not None
    assert renderer.get("type") == kind
    if column is not None:
        assert column in COLUMNS[layer]
        assert column in _renderer_text(renderer)
    symbols = renderer.find("symbols")
    assert symbols is not None and len(symbols) >= 1
    symbol_type = "marker" if LAYERS[layer].geometry_type == "Point" else "fill"
    assert {s.get("type") for s in symbols} == {symbol_type}
    geometry = root.findtext("layerGeometryType")
    assert geometry == ("0" if symbol_type == "marker" else "2")
    assert (root.find("labeling") is not None) == labelled
    assert root.get("labelsEnabled") == ("1" if labelled else "0")
    assert qml_style(layer, COLUMNS[layer]) == qml_style(layer, COLUMNS[layer])


def test_qml_details() -> None:
    parcels = _parse(qml_style("flurstuecke", COLUMNS["flurstuecke"]))
    text_style = parcels.find("labeling/settings/text-style")
    rendering = parcels.find("labeling/settings/rendering")
    assert text_style is not None and rendering is not None
    assert '"zaehler"' in text_style.get("fieldName", "")
    assert "coalesce('/' ||" in text_style.get("fieldName", "")
    assert rendering.get("scaleVisibility") == "1"
    assert rendering.get("scaleMax") == "5000"
    options = {o.get("name"): o.get("value") for o in parcels.iter("Option") if o.get("name")}
    assert options["style"] == "no"

    area = _parse(qml_style("untersuchungsgebiet", []))
    outline = {o.get("name"): o.get("value") for o in area.iter("Option") if o.get("name")}
    assert outline["outline_color"] == "227,26,28,255" and outline["style"] == "no"
    assert float(outline["outline_width"]) >= 0.6

    border = _parse(qml_style("gemeindegrenze", []))
    assert any(o.get("value") == "dash" for o in border.iter("Option"))

    census = _parse(qml_style("zensus_gitter_100m", COLUMNS["zensus_gitter_100m"]))
    filters = [rule.get("filter") for rule in census.iter("rule")]
    assert '"einwohner" IS NULL' in filters
    assert '"einwohner" >= 100' in filters
    assert len(filters) == 6

    land_use = _parse(qml_style("tatsaechliche_nutzung", COLUMNS["tatsaechliche_nutzung"]))
    values = [c.get("value") for c in land_use.iter("category")]
    assert values == ["Siedlung", "Verkehr", "Vegetation", "Gewässer", ""]

    traffic = _parse(qml_style("verkehrszaehlstellen", COLUMNS["verkehrszaehlstellen"]))
    sizes = [
        float(option.get("value", ""))
        for option in traffic.iterfind("renderer-v2/symbols/symbol/layer/Option/Option")
        if option.get("name") == "size"
    ]
    assert sizes == sorted(sizes) and len(set(sizes)) == 5
    ranges = [(r.get("lower"), r.get("upper")) for r in traffic.iter("range")]
    assert ranges[0] == ("0.000000000000000", "5000.000000000000000")


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_qml_without_the_columns_falls_back_to_a_simple_symbol(layer: str) -> None:
    root = _parse(qml_style(layer, ["fid"]))

    renderer = root.find("renderer-v2")
    assert renderer is not None
    assert renderer.get("type") == "singleSymbol"
    assert root.find("labeling") is None
    for column in ("zaehler", "funktion", "gruppe", "einwohner", "leerstaende", "dtv_kfz"):
        assert column not in qml_style(layer, ["fid"])


def test_unknown_layer_is_refused() -> None:
    with pytest.raises(ValueError, match="no QGIS style"):
        qml_style("irgendwas", [])


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_sld_is_valid_xml(layer: str) -> None:
    root = etree.fromstring(sld_style(layer).encode())

    assert root.tag == "{http://www.opengis.net/sld}StyledLayerDescriptor"
    assert root.get("version") == "1.1.0"
    se = "{http://www.opengis.net/se}"
    kind = "PointSymbolizer" if LAYERS[layer].geometry_type == "Point" else "PolygonSymbolizer"
    assert root.find(f".//{se}{kind}") is not None


@pytest.fixture
def fixed_ogr_date() -> Iterator[None]:
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": OGR_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def _frames() -> dict[str, gpd.GeoDataFrame]:
    crs = "EPSG:25832"
    return {
        "flurstuecke": gpd.GeoDataFrame(
            {
                "flurstueckskennzeichen": ["15123400300008______", "15123400300009000200"],
                "zaehler": ["00008", "00009"],
                "nenner": [None, "0002"],
            },
            geometry=[MultiPolygon([box(0, 0, 10, 10)]), MultiPolygon([box(10, 0, 20, 10)])],
            crs=crs,
        ),
        "gebaeude": gpd.GeoDataFrame(
            {"objekt_id": ["DEST1", "DEST2"], "funktion": [1010, 2050]},
            geometry=[MultiPolygon([box(1, 1, 4, 4)]), MultiPolygon([box(12, 1, 15, 4)])],
            crs=crs,
        ),
        "hausnummern": gpd.GeoDataFrame(
            {"strasse": ["Markt"], "hausnummer": ["3"], "zusatz": ["a"]},
            geometry=[Point(2, 2)],
            crs=crs,
        ),
    }


def _write_package(path: Path) -> list[tuple[str, str, str]]:
    frames = _frames()
    for name, frame in frames.items():
        pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG")
    info = {layer["name"]: layer for layer in _layer_info(path)}
    return [
        (name, info[name]["geometry_column"], qml_style(name, list(frame.columns)))
        for name, frame in frames.items()
    ]


def _layer_info(path: Path) -> list[dict[str, str]]:
    layers = []
    for name, _ in pyogrio.list_layers(path):
        meta = pyogrio.read_info(path, layer=name)
        layers.append({"name": name, "geometry_column": meta["geometry_name"]})
    return layers


def test_write_layer_styles_into_a_geopackage(tmp_path: Path, fixed_ogr_date: None) -> None:
    path = tmp_path / "paket.gpkg"
    layers = _write_package(path)
    assert {geometry_column for _, geometry_column, _ in layers} == {"geom"}

    write_layer_styles(path, layers, STAMP)

    with closing(sqlite3.connect(path)) as connection:
        rows = connection.execute(
            "SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
            "styleName, styleQML, styleSLD, useAsDefault, update_time FROM layer_styles "
            "ORDER BY id"
        ).fetchall()
        contents = connection.execute(
            "SELECT data_type, identifier, last_change FROM gpkg_contents "
            "WHERE table_name = 'layer_styles'"
        ).fetchone()
        count = connection.execute(
            "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'layer_styles'"
        ).fetchone()
        check = connection.execute("PRAGMA integrity_check").fetchone()
    assert [row[2] for row in rows] == ["flurstuecke", "gebaeude", "hausnummern"]
    for catalog, schema, table, column, name, qml, sld, default, updated in rows:
        assert (catalog, schema, column, name, default) == ("", "", "geom", table, 1)
        assert updated == "2024-06-25T12:00:00.000Z"
        root = _parse(qml)
        renderer = root.find("renderer-v2")
        assert renderer is not None
        kind, column_name, _ = EXPECTED[table]
        assert renderer.get("type") == kind
        if column_name:
            assert column_name in _renderer_text(renderer)
        assert etree.fromstring(sld.encode()).get("version") == "1.1.0"
    assert contents == ("attributes", "layer_styles", "2024-06-25T12:00:00.000Z")
    assert count == (3,)
    assert check == ("ok",)

    names = [name for name, _ in pyogrio.list_layers(path)]
    assert {"flurstuecke", "gebaeude", "hausnummern", "layer_styles"} <= set(names)
    parcels = pyogrio.read_dataframe(path, layer="flurstuecke")
    assert list(parcels["zaehler"]) == ["00008", "00009"]
    assert parcels.crs.to_epsg() == 25832
    styles = pyogrio.read_dataframe(path, layer="layer_styles")
    assert list(styles["useAsDefault"]) == [True, True, True]


def test_write_layer_styles_is_deterministic(tmp_path: Path, fixed_ogr_date: None) -> None:
    first, second = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    for path in (first, second):
        write_layer_styles(path, _write_package(path), STAMP)

    assert first.read_bytes() == second.read_bytes()


def test_write_layer_styles_twice_keeps_one_default(tmp_path: Path, fixed_ogr_date: None) -> None:
    path = tmp_path / "paket.gpkg"
    layers = _write_package(path)

    write_layer_styles(path, layers, STAMP)
    write_layer_styles(path, layers[:1], STAMP + dt.timedelta(hours=1))

    with closing(sqlite3.connect(path)) as connection:
        rows = connection.execute(
            "SELECT f_table_name, count(*) FROM layer_styles WHERE useAsDefault = 1 "
            "GROUP BY f_table_name ORDER BY f_table_name"
        ).fetchall()
        last_change = connection.execute(
            "SELECT last_change FROM gpkg_contents WHERE table_name = 'layer_styles'"
        ).fetchone()
    assert rows == [("flurstuecke", 1), ("gebaeude", 1), ("hausnummern", 1)]
    assert last_change == ("2024-06-25T13:00:00.000Z",)


def test_write_layer_styles_checks_the_layers(tmp_path: Path, fixed_ogr_date: None) -> None:
    path = tmp_path / "paket.gpkg"
    layers = _write_package(path)

    with pytest.raises(ValueError, match="geometry"):
        write_layer_styles(path, [("flurstuecke", "geometry", layers[0][2])], STAMP)
    with pytest.raises(ValueError, match="nicht_da"):
        write_layer_styles(path, [("nicht_da", "geom", layers[0][2])], STAMP)
    with pytest.raises(FileNotFoundError):
        write_layer_styles(tmp_path / "fehlt.gpkg", layers, STAMP)
    assert not (tmp_path / "fehlt.gpkg").exists()
    assert "layer_styles" not in [name for name, _ in pyogrio.list_layers(path)]
