"""The sample cadastre of Mücheln: deterministic, plausible, and in the real source formats."""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from lxml import etree

from sample_data import cadastre, generate

ADV = "{http://www.adv-online.de/namespaces/adv/gid/7.1}"
GML = "{http://www.opengis.net/gml/3.2}"
WFS = "{http://www.opengis.net/wfs/2.0}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
CADASTRE_FILES = (
    generate.NAS_FILE,
    generate.AVE_ZIP_FILE,
    generate.AVE_GML_FILE,
    generate.ADDRESS_CSV_FILE,
)
LAND_USE_TYPES = {kind for kind, _ in cadastre.LAND_USE.values()}
KENNZEICHEN = re.compile(r"^15\d{4}\d{3}\d{5}(\d{4}|_{4})__$")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cadastre")
    generate.generate(directory)
    return directory


@pytest.fixture(scope="module")
def nas(out_dir: Path) -> dict[str, list[etree._Element]]:
    """The NAS objects by type (the file parsed as a real reader would: no entities)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.parse(str(out_dir / generate.NAS_FILE), parser).getroot()
    assert root.tag == ADV + "AX_Bestandsdatenauszug"
    collection = root.find(f"{ADV}enthaelt/{WFS}FeatureCollection")
    assert collection is not None
    objects: dict[str, list[etree._Element]] = {}
    members = collection.findall(WFS + "member")
    for member in members:
        assert len(member) == 1
        objects.setdefault(etree.QName(member[0]).localname, []).append(member[0])
    assert collection.get("numberReturned") == str(len(members))
    return objects


def _ave(out_dir: Path, layer: str) -> Any:
    return pyogrio.read_dataframe(f"/vsizip/{out_dir / generate.AVE_ZIP_FILE}/{layer}.shp")


@pytest.fixture(scope="module")
def parcels(out_dir: Path) -> Any:
    return _ave(out_dir, "flurstueck")


@pytest.fixture(scope="module")
def muecheln(out_dir: Path) -> Any:
    frame = pyogrio.read_dataframe(out_dir / generate.BOUNDARIES_FILE, layer="vg250_gem")
    return frame.set_index("AGS").geometry[generate.SAMPLE_AGS]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _text(elem: etree._Element, path: str) -> str | None:
    found = elem.find(path.replace("adv:", ADV))
    return None if found is None else found.text


def test_two_runs_write_identical_bytes(out_dir: Path, tmp_path: Path) -> None:
    written = generate.generate(tmp_path)
    names = [p.name for p in written]
    assert names[: 1 + len(CADASTRE_FILES)] == [generate.BOUNDARIES_FILE, *CADASTRE_FILES]
    for path in written:
        assert _sha(path) == _sha(out_dir / path.name), path.name


def test_nas_holds_the_expected_objects(nas: dict[str, list[etree._Element]]) -> None:
    counts = {kind: len(objects) for kind, objects in nas.items()}
    assert 2_500 <= counts["AX_Flurstueck"] <= 4_000
    assert counts["AX_Gebaeude"] >= counts["AX_LagebezeichnungMitHausnummer"] >= 2_000
    assert counts["AX_Gemarkung"] == 3
    assert 20 <= counts["AX_LagebezeichnungKatalogeintrag"] <= 60
    assert set(counts) >= LAND_USE_TYPES
    # about nine in ten house numbers have a presentation object; the rest fall back
    share = counts["AP_PTO"] / counts["AX_LagebezeichnungMitHausnummer"]
    assert 0.85 <= share <= 0.95
    ids = [o.get(GML + "id") for objects in nas.values() for o in objects]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"DEST[0-9A-Za-z]{12}", i or "") for i in ids)


def test_nas_references_resolve(nas: dict[str, list[etree._Element]]) -> None:
    addresses = {o.get(GML + "id") for o in nas["AX_LagebezeichnungMitHausnummer"]}

    def targets(kind: str, relation: str) -> list[str]:
        return [
            ref.get(XLINK_HREF, "").removeprefix("urn:adv:oid:")
            for o in nas[kind]
            for ref in o.findall(ADV + relation)
        ]

    by_building = targets("AX_Gebaeude", "zeigtAuf")
    assert Counter(by_building) == Counter(addresses)  # one main building per address
    assert set(targets("AX_Flurstueck", "weistAuf")) == addresses
    pto = targets("AP_PTO", "dientZurDarstellungVon")
    assert set(pto) <= addresses and len(pto) == len(set(pto))
    assert {_text(o, "adv:art") for o in nas["AP_PTO"]} == {"HNR"}
    keys = {_text(o, "adv:schluessel/adv:AX_VerschluesselteLagebezeichnung/adv:lage")
            for o in nas["AX_LagebezeichnungKatalogeintrag"]}  # fmt: skip
    path = "adv:lagebezeichnung/adv:AX_Lagebezeichnung/adv:verschluesselt/"
    for o in nas["AX_LagebezeichnungMitHausnummer"]:
        assert _text(o, path + "adv:AX_VerschluesselteLagebezeichnung/adv:lage") in keys
        assert _text(o, path + "adv:AX_VerschluesselteLagebezeichnung/adv:gemeinde") == "235"
    numbers = [_text(o, "adv:hausnummer") or "" for o in nas["AX_LagebezeichnungMitHausnummer"]]
    assert all(re.fullmatch(r"[1-9]\d*[a-z]?", n) for n in numbers)
    assert any(n[-1].isalpha() for n in numbers)
    names = [_text(o, "adv:bezeichnung") or "" for o in nas["AX_LagebezeichnungKatalogeintrag"]]
    assert {"Hauptstraße", "Markt", "Bahnhofstraße", "Am Geiseltalsee", "Lange Straße",
            "Kirchplatz", "Straße der Einheit"} <= set(names)  # fmt: skip
    assert any(c in name for name in names for c in "äöü")


def test_nas_parcels_match_the_simplified_ones(
    nas: dict[str, list[etree._Element]], parcels: Any
) -> None:
    by_key = {
        _text(o, "adv:flurstueckskennzeichen"): float(_text(o, "adv:amtlicheFlaeche") or "nan")
        for o in nas["AX_Flurstueck"]
    }
    assert by_key == dict(zip(parcels.flstkennz, parcels.flaeche, strict=True))
    sample = nas["AX_Flurstueck"][0]
    ring = sample.find(f".//{GML}PolygonPatch/{GML}exterior/{GML}Ring")
    assert ring is not None and len(ring.findall(f"{GML}curveMember")) >= 3
    assert sample.find(f"{ADV}position/{GML}MultiSurface").get("srsName") == cadastre.NAS_SRS
    kennzeichen = sample.find(ADV + "gemeindezugehoerigkeit/" + ADV + "AX_Gemeindekennzeichen")
    assert [c.text for c in kennzeichen] == ["15", "0", "88", "235"]


def test_parcels_tile_the_sample_area(parcels: Any, muecheln: Any) -> None:
    geoms = parcels.geometry.to_numpy()
    assert 2_500 <= len(parcels) <= 4_000
    assert shapely.is_valid(geoms).all()
    assert parcels.crs.to_epsg() == 25832
    union = shapely.union_all(geoms)
    assert abs(shapely.area(geoms).sum() - union.area) < 1.0  # no overlaps
    assert union.within(muecheln)
    extent = shapely.box(*union.bounds)
    assert abs(extent.area - union.area) < 1.0  # no gaps
    assert np.abs(parcels.flaeche.to_numpy() - shapely.area(geoms)).max() <= 0.5 + 1e-6


def test_parcel_keys(parcels: Any) -> None:
    keys = parcels.flstkennz
    assert keys.is_unique and (keys.str.len() == 20).all()
    assert all(KENNZEICHEN.match(k) for k in keys)
    assert keys.str[2:6].nunique() in (2, 3) and set(keys.str[6:9].astype(int)) <= set(range(1, 10))
    with_nenner = parcels[parcels.flstnrnen.notna()]
    assert 0.02 * len(parcels) < len(with_nenner) < 0.2 * len(parcels)
    rebuilt = parcels.apply(
        lambda r: cadastre.kennzeichen(
            int(r.gemaschl[2:]), int(r.flur), int(r.flstnrzae),
            int(r.flstnrnen) if isinstance(r.flstnrnen, str) else None,
        ),
        axis=1,
    )  # fmt: skip
    assert (rebuilt == keys).all()
    assert (parcels.flurschl == parcels.gemaschl + parcels.flur).all()
    assert (parcels.gmdschl == generate.SAMPLE_AGS).all()


def test_shapefiles_have_the_exact_fields(out_dir: Path) -> None:
    names = zipfile.ZipFile(out_dir / generate.AVE_ZIP_FILE).namelist()
    for layer, fields in (
        ("flurstueck", cadastre.AVE_PARCEL_FIELDS),
        ("gebaeudebauwerk", cadastre.AVE_BUILDING_FIELDS),
        ("nutzung", cadastre.AVE_LAND_USE_FIELDS),
    ):
        assert {f"{layer}.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg")} <= set(names)
        info = pyogrio.read_info(f"/vsizip/{out_dir / generate.AVE_ZIP_FILE}/{layer}.shp")
        assert tuple(info["fields"]) == fields
        assert info["crs"] == "EPSG:25832" and info["encoding"] == "UTF-8"


def test_buildings_stand_on_parcels(out_dir: Path, parcels: Any) -> None:
    buildings = _ave(out_dir, "gebaeudebauwerk")
    geoms = buildings.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    tree = shapely.STRtree(shapely.buffer(parcels.geometry.to_numpy(), 0.01))
    inside, _ = tree.query(geoms, predicate="within")
    assert len(set(inside)) == len(buildings)
    assert (buildings.gebnutzbez == "Gebäude").all()
    assert set(buildings.funktion) <= set(cadastre.BUILDING_FUNCTIONS.values())
    assert {"Wohnhaus", "Garage", "Gartenhaus", "Kirche"} <= set(buildings.funktion)
    addressed = buildings[buildings.lagebeztxt.notna()]
    residential = parcels.tntxt.str.startswith("Wohnbaufläche").sum()
    assert 0.8 * residential <= len(addressed) <= 1.3 * residential
    assert "Garage" not in set(addressed.funktion)


def test_land_use_covers_every_parcel(out_dir: Path, parcels: Any) -> None:
    pieces = _ave(out_dir, "nutzung")
    assert set(pieces.flstkennz) == set(parcels.flstkennz)
    nutzart = {name for _, name in cadastre.LAND_USE.values()}
    assert set(pieces.nutzart) == nutzart
    area = shapely.area(pieces.geometry.to_numpy()).sum()
    assert abs(area - shapely.area(parcels.geometry.to_numpy()).sum()) < 5.0
    # tntxt: "Nutzungsart;m²" entries separated by "|", adding up to the official area
    for text, flaeche in zip(parcels.tntxt, parcels.flaeche, strict=True):
        entries = [entry.split(";") for entry in text.split("|")]
        assert all(name in nutzart for name, _ in entries)
        assert sum(int(m2) for _, m2 in entries) == flaeche


def test_gdal_reads_the_wfs_response(out_dir: Path, parcels: Any) -> None:
    path = out_dir / generate.AVE_GML_FILE
    info = pyogrio.read_info(path, WRITE_GFS="NO")
    assert info["layer_name"] == "Flurstueck" and info["features"] == len(parcels)
    assert info["crs"] == "EPSG:25832" and info["geometry_type"] == "MultiPolygon"
    assert set(cadastre.AVE_PARCEL_FIELDS) <= set(info["fields"])
    root = etree.parse(str(path)).getroot()
    assert root.tag == WFS + "FeatureCollection"
    assert root.get("numberMatched") == root.get("numberReturned") == str(len(parcels))


def test_house_coordinates_csv(
    out_dir: Path, nas: dict[str, list[etree._Element]], muecheln: Any
) -> None:
    path = out_dir / generate.ADDRESS_CSV_FILE
    frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, encoding="utf-8")
    assert tuple(frame.columns) == cadastre.HK_COLUMNS
    assert set(frame.OI) == {o.get(GML + "id") for o in nas["AX_LagebezeichnungMitHausnummer"]}
    assert (frame.PLZ == "06249").all() and (frame.ONM == "Mücheln (Geiseltal)").all()
    assert (frame.LAN + frame.RBZ + frame.KRS + frame.GMD == generate.SAMPLE_AGS).all()
    assert frame.HNR.str.fullmatch(r"\d+").all() and (frame.ADZ != "").any()
    # HK-DE writes the UTM zone in front of the easting: 8 digits, decimal comma
    assert frame.EAST.str.fullmatch(r"32\d{6},\d{3}").all()
    east = frame.EAST.str[2:].str.replace(",", ".").astype(float)
    north = frame.NORTH.str.replace(",", ".").astype(float)
    assert shapely.contains_xy(muecheln, east.to_numpy(), north.to_numpy()).all()
