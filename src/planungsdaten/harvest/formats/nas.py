"""Streaming reader for ALKIS NAS (GeoInfoDok 6.0/7.1): features, batched frames, addresses.

NAS (Normbasierte Austauschschnittstelle) is the GML 3.2 exchange format of the
German cadastre (ALKIS). The GDAL in the pyogrio wheels has no NAS driver, so the
XML is parsed here with lxml, streaming: memory stays flat however large the file.
Features are found at any depth (bare, or inside AX_Bestandsdatenauszug/enthaelt/
wfs:FeatureCollection/wfs:member or gml:featureMember); the adv namespace is matched
by local name, so GeoInfoDok 6.0 and 7.1 files read alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import pandas as pd
from lxml import etree
from shapely.errors import ShapelyError
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from planungsdaten.harvest.codelists import TATSAECHLICHE_NUTZUNG, gebaeudefunktion_name
from planungsdaten.harvest.errors import SourceDefinitionError, SourceFormatError
from planungsdaten.harvest.formats.gml_geometry import (
    GML_NS,
    XLINK_HREF,
    first_child,
    local_name,
    parse_geometry,
    release_element,
    srs_name,
)
from planungsdaten.harvest.xmlsafety import refuse_dtd

LAND_USE_TYPES: Final[frozenset[str]] = frozenset(TATSAECHLICHE_NUTZUNG)
NAS_FEATURE_TYPES: Final[frozenset[str]] = frozenset(
    {
        "AX_Flurstueck",
        "AX_Gebaeude",
        "AX_LagebezeichnungMitHausnummer",
        "AX_LagebezeichnungKatalogeintrag",
        "AX_Gemarkung",
        "AP_PTO",
    }
    | LAND_USE_TYPES
)
LAYER_LAND_USE: Final = "TatsaechlicheNutzung"
LAYER_ADDRESSES: Final = "Adressen"
NAS_LAYERS: Final[frozenset[str]] = NAS_FEATURE_TYPES | {LAYER_LAND_USE, LAYER_ADDRESSES}

_GML_ID = f"{{{GML_NS}}}id"
# Elements that wrap features in NAS deliveries and WFS responses; released as soon as
# they close so that features the caller did not ask for do not pile up in the tree.
_CONTAINERS: Final = frozenset({"member", "featureMember", "featureMembers"})
_OID_PREFIX = "urn:adv:oid:"
# gml:id may carry the begin of the object's life time after the 16-character OID.
_OID_WITH_TIMESTAMP = re.compile(r"([A-Za-z0-9]{16})\d{8}T\d{6}Z", re.ASCII)
_KENNZEICHEN = re.compile(r"([0-9]{2})([0-9]{4})([0-9_]{3})([0-9_]{5})([0-9_]{4})([0-9_]{2})")


class NasFormatError(SourceFormatError):
    """The NAS file is not well-formed XML or holds values the reader cannot convert."""


class _ValueProblem(ValueError):
    """A property value of one feature is unusable (German message, wrapped with context)."""


@dataclass(frozen=True)
class Flurstueckskennzeichen:
    """The parts of the 20-character Flurstückskennzeichen, '_' padding removed."""

    land: str
    gemarkung: str
    flur: str | None
    zaehler: str
    nenner: str | None
    folge: str | None


@dataclass(frozen=True)
class NasFeature:
    """One NAS object: type (local name), gml:id, flattened properties, geometry."""

    feature_type: str
    gml_id: str
    properties: dict[str, Any]
    geometry: BaseGeometry | None
    srs_name: str | None


def decode_flurstueckskennzeichen(value: str) -> Flurstueckskennzeichen:
    """Split a Flurstückskennzeichen (Land 2, Gemarkung 4, Flur 3, Zähler 5, Nenner 4, Folge 2)."""
    match = _KENNZEICHEN.fullmatch(value)
    if match is None:
        raise NasFormatError(
            f"Flurstückskennzeichen {value!r} ist ungültig: erwartet werden 20 Zeichen "
            "(Land 2, Gemarkung 4, Flur 3, Zähler 5, Nenner 4, Folge 2 Ziffern, "
            "leere Stellen mit '_' aufgefüllt)"
        )
    land, gemarkung, flur, zaehler, nenner, folge = (
        _kennzeichen_part(value, part) for part in match.groups()
    )
    if zaehler is None or int(zaehler) == 0:
        raise NasFormatError(f"Flurstückskennzeichen {value!r} hat keinen Zähler")
    assert land is not None and gemarkung is not None  # the pattern requires digits
    return Flurstueckskennzeichen(
        land=land,
        gemarkung=gemarkung,
        flur=None if flur is None or int(flur) == 0 else flur,
        zaehler=zaehler,
        nenner=None if nenner is None or int(nenner) == 0 else nenner,
        folge=folge,
    )


def _kennzeichen_part(value: str, part: str) -> str | None:
    digits = part.strip("_")
    if "_" in digits:
        raise NasFormatError(
            f"Flurstückskennzeichen {value!r} ist ungültig: '_' mitten in {part!r}"
        )
    return digits or None


# --- CRS ---------------------------------------------------------------------------

# AdV CRS identifiers (urn:adv:crs:…) of the horizontal reference systems in use.
_ADV_CRS: Final[dict[str, str]] = {
    "ETRS89_UTM32": "EPSG:25832",
    "ETRS89_UTM33": "EPSG:25833",
    "ETRS89_LAT-LON": "EPSG:4258",
    "DE_DHDN_3GK2": "EPSG:31466",
    "DE_DHDN_3GK3": "EPSG:31467",
    "DE_DHDN_3GK4": "EPSG:31468",
    "DE_DHDN_3GK5": "EPSG:31469",
}
_EPSG_PATTERNS: Final = (
    re.compile(r"urn:ogc:def:crs:EPSG:[0-9.]*:([0-9]+)", re.IGNORECASE),
    re.compile(r"https?://www\.opengis\.net/def/crs/EPSG/[0-9.]+/([0-9]+)", re.IGNORECASE),
    re.compile(r"https?://www\.opengis\.net/gml/srs/epsg\.xml#([0-9]+)", re.IGNORECASE),
    re.compile(r"EPSG:([0-9]+)", re.IGNORECASE),
)
_CRS84 = re.compile(
    r"(urn:ogc:def:crs:OGC:1\.3:CRS84|https?://www\.opengis\.net/def/crs/OGC/1\.3/CRS84)",
    re.IGNORECASE,
)


@lru_cache(maxsize=64)
def nas_crs(srs_name: str | None) -> str | None:
    """CRS ('EPSG:25832', …) of a NAS srsName such as 'urn:adv:crs:ETRS89_UTM32'."""
    if srs_name is None or not srs_name.strip():
        return None
    value = srs_name.strip()
    if value.lower().startswith("urn:adv:crs:"):
        # Compound systems name the height system after '*' (ETRS89_UTM32*DE_DHHN2016_NH).
        horizontal = value[len("urn:adv:crs:") :].split("*", 1)[0].upper()
        if horizontal in _ADV_CRS:
            return _ADV_CRS[horizontal]
    for pattern in _EPSG_PATTERNS:
        match = pattern.fullmatch(value)
        if match:
            return f"EPSG:{int(match.group(1))}"
    if _CRS84.fullmatch(value):
        return "OGC:CRS84"
    raise NasFormatError(
        f"Koordinatenreferenzsystem {srs_name!r} ist unbekannt; unterstützt werden "
        "urn:adv:crs:ETRS89_UTM32/UTM33, ETRS89_Lat-Lon, DE_DHDN_3GK2…5 und EPSG-Angaben"
    )


# --- property extraction -----------------------------------------------------------


def _child(elem: etree._Element, name: str) -> etree._Element | None:
    for child in elem:
        if local_name(child) == name:
            return child
    return None


def _descendant(elem: etree._Element, name: str) -> etree._Element | None:
    return next(elem.iterdescendants(f"{{*}}{name}"), None)


def _value(node: etree._Element | None) -> str | None:
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


class _Properties:
    """The property elements of one feature by local name (any namespace)."""

    __slots__ = ("by_name", "elem")

    def __init__(self, elem: etree._Element) -> None:
        self.elem = elem
        # One pass over the children: per-name lookups (iterchildren(tag), find with
        # '{*}' paths) would cost microseconds each, dozens of times per feature.
        self.by_name: dict[str, list[etree._Element]] = {}
        for child in elem:
            name = local_name(child)
            if name:
                self.by_name.setdefault(name, []).append(child)

    def find(self, path: str) -> etree._Element | None:
        """First element along a '/'-separated path of local names."""
        first, *rest = path.split("/")
        nodes = self.by_name.get(first)
        node = nodes[0] if nodes else None
        for step in rest:
            if node is None:
                return None
            node = _child(node, step)
        return node

    def text(self, path: str) -> str | None:
        return _value(self.find(path))

    def texts(self, name: str) -> list[str]:
        return [t for node in self.by_name.get(name, ()) if (t := _value(node))]

    def refs(self, *names: str) -> list[str]:
        """xlink:href targets of the named properties, without 'urn:adv:oid:' and '#'."""
        refs: list[str] = []
        for name in names:
            for node in self.by_name.get(name, ()):
                href = node.get(XLINK_HREF)
                if href and href.strip():
                    refs.append(_strip_ref(href))
        return refs


def _int(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as e:
        raise _ValueProblem(f"{field} ist keine ganze Zahl: {value!r}") from e


def _float(value: str | None, field: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError as e:
        raise _ValueProblem(f"{field} ist keine Zahl: {value!r}") from e


def _strip_ref(value: str) -> str:
    value = value.strip()
    if value.startswith(_OID_PREFIX):
        value = value[len(_OID_PREFIX) :]
    return value.lstrip("#")


def _oid(value: str) -> str:
    """Key for matching xlink references: the 16-character OID without urn, '#', timestamp."""
    value = _strip_ref(value)
    match = _OID_WITH_TIMESTAMP.fullmatch(value)
    return match.group(1) if match else value


def _ags(parts: etree._Element | None) -> str | None:
    """8-digit AGS from land, regierungsbezirk, kreis, gemeinde children (None if incomplete)."""
    if parts is None:
        return None
    land, rb, kreis, gemeinde = (
        _value(_child(parts, name)) for name in ("land", "regierungsbezirk", "kreis", "gemeinde")
    )
    if land is None or kreis is None or gemeinde is None:
        return None
    digits = [
        _int(land, "land"),
        _int(rb or "0", "regierungsbezirk"),
        _int(kreis, "kreis"),
        _int(gemeinde, "gemeinde"),
    ]
    ags = "".join(f"{d:0{w}d}" for d, w in zip(digits, (2, 1, 2, 3), strict=True))
    if len(ags) != 8:
        raise _ValueProblem(
            f"Gemeindekennzeichen {land}/{rb}/{kreis}/{gemeinde} ergibt keinen 8-stelligen AGS"
        )
    return ags


def _flurstueck(props: _Properties) -> dict[str, Any]:
    kennzeichen = props.text("flurstueckskennzeichen")
    decoded: Flurstueckskennzeichen | None = None
    if kennzeichen is not None:
        try:
            decoded = decode_flurstueckskennzeichen(kennzeichen)
        except NasFormatError as e:
            raise _ValueProblem(str(e)) from e
    schluessel = "gemarkung/AX_Gemarkung_Schluessel/"
    nummer = "flurstuecksnummer/AX_Flurstuecksnummer/"
    flurnummer = _int(props.text("flurnummer"), "flurnummer")
    zaehler = props.text(nummer + "zaehler")
    nenner = props.text(nummer + "nenner")
    if decoded is not None:
        if flurnummer is None and decoded.flur is not None:
            flurnummer = int(decoded.flur)
        zaehler = zaehler or decoded.zaehler.lstrip("0")
        nenner = nenner or (decoded.nenner.lstrip("0") if decoded.nenner else None)
    gemarkung = props.find("gemarkung")
    return {
        "flurstueckskennzeichen": kennzeichen,
        "land": props.text(schluessel + "land") or (decoded.land if decoded else None),
        "gemarkungsnummer": props.text(schluessel + "gemarkungsnummer")
        or (decoded.gemarkung if decoded else None),
        # AX_Flurstueck refers to its Gemarkung by key; a name appears only as xlink:title.
        "gemarkung_name": (gemarkung.get("{http://www.w3.org/1999/xlink}title") or None)
        if gemarkung is not None
        else None,
        "flurnummer": flurnummer,
        "zaehler": zaehler,
        "nenner": nenner,
        "amtliche_flaeche": _float(props.text("amtlicheFlaeche"), "amtlicheFlaeche"),
        "ags": _ags(props.find("gemeindezugehoerigkeit/AX_Gemeindekennzeichen")),
        # weistAuf: AX_LagebezeichnungMitHausnummer, zeigtAuf: …OhneHausnummer.
        "lage_ids": props.refs("weistAuf", "zeigtAuf"),
        "zeitpunkt_der_entstehung": props.text("zeitpunktDerEntstehung"),
    }


def _gebaeude(props: _Properties) -> dict[str, Any]:
    funktion = _int(props.text("gebaeudefunktion"), "gebaeudefunktion")
    return {
        "gebaeudefunktion": funktion,
        "gebaeudefunktion_name": gebaeudefunktion_name(funktion),
        "anzahl_der_oberirdischen_geschosse": _int(
            props.text("anzahlDerOberirdischenGeschosse"), "anzahlDerOberirdischenGeschosse"
        ),
        "name": "; ".join(props.texts("name")) or None,
        "lage_ids": props.refs("zeigtAuf"),
    }


def _lage_mit_hausnummer(props: _Properties) -> dict[str, Any]:
    key = _descendant(props.elem, "AX_VerschluesselteLagebezeichnung")
    parts = {
        name: _value(_child(key, name)) if key is not None else None
        for name in ("land", "regierungsbezirk", "kreis", "gemeinde", "lage")
    }
    return {
        "land": parts["land"],
        "regierungsbezirk": parts["regierungsbezirk"],
        "kreis": parts["kreis"],
        "gemeinde": parts["gemeinde"],
        "ags": _ags(key),
        "lage": parts["lage"],
        "hausnummer": props.text("hausnummer"),
        "strasse": _value(_descendant(props.elem, "unverschluesselt")),
    }


def _katalogeintrag(props: _Properties) -> dict[str, Any]:
    key = _descendant(props.elem, "AX_VerschluesselteLagebezeichnung")
    gesamt = props.text("schluesselGesamt")
    ags = _ags(key)
    lage = _value(_child(key, "lage")) if key is not None else None
    if key is None and gesamt is not None and len(gesamt) == 13 and gesamt.isdigit():
        ags, lage = gesamt[:8], gesamt[8:]  # AGS 8 + Straßenschlüssel 5
    return {
        "schluessel_gesamt": gesamt,
        "bezeichnung": props.text("bezeichnung"),
        "lage": lage,
        "ags": ags,
    }


def _gemarkung(props: _Properties) -> dict[str, Any]:
    schluessel = "schluessel/AX_Gemarkung_Schluessel/"
    return {
        "land": props.text(schluessel + "land"),
        "gemarkungsnummer": props.text(schluessel + "gemarkungsnummer"),
        "bezeichnung": props.text("bezeichnung"),
    }


def _pto(props: _Properties) -> dict[str, Any]:
    return {
        "art": props.text("art"),
        "dient_zur_darstellung_von": props.refs("dientZurDarstellungVon"),
    }


def _land_use(props: _Properties) -> dict[str, Any]:
    nutzart = local_name(props.elem)
    kind = TATSAECHLICHE_NUTZUNG[nutzart]
    return {
        "nutzart": nutzart,
        "nutzart_name": kind.name,
        "nutzart_gruppe": kind.group,
        "funktion": _int(props.text("funktion"), "funktion"),
        "name": "; ".join(props.texts("name")) or None,
    }


_Extractor = Callable[[_Properties], dict[str, Any]]
_EXTRACTORS: Final[dict[str, _Extractor]] = {
    "AX_Flurstueck": _flurstueck,
    "AX_Gebaeude": _gebaeude,
    "AX_LagebezeichnungMitHausnummer": _lage_mit_hausnummer,
    "AX_LagebezeichnungKatalogeintrag": _katalogeintrag,
    "AX_Gemarkung": _gemarkung,
    "AP_PTO": _pto,
} | dict.fromkeys(LAND_USE_TYPES, _land_use)

# Frame columns per feature type (after gml_id and feature_type) with their pandas dtype.
_COLUMNS: Final[dict[str, dict[str, str]]] = {
    "AX_Flurstueck": {
        "flurstueckskennzeichen": "object",
        "land": "object",
        "gemarkungsnummer": "object",
        "gemarkung_name": "object",
        "flurnummer": "Int64",
        "zaehler": "object",
        "nenner": "object",
        "amtliche_flaeche": "float64",
        "ags": "object",
        "lage_ids": "object",
        "zeitpunkt_der_entstehung": "object",
    },
    "AX_Gebaeude": {
        "gebaeudefunktion": "Int64",
        "gebaeudefunktion_name": "object",
        "anzahl_der_oberirdischen_geschosse": "Int64",
        "name": "object",
        "lage_ids": "object",
    },
    "AX_LagebezeichnungMitHausnummer": {
        "land": "object",
        "regierungsbezirk": "object",
        "kreis": "object",
        "gemeinde": "object",
        "ags": "object",
        "lage": "object",
        "hausnummer": "object",
        "strasse": "object",
    },
    "AX_LagebezeichnungKatalogeintrag": {
        "schluessel_gesamt": "object",
        "bezeichnung": "object",
        "lage": "object",
        "ags": "object",
    },
    "AX_Gemarkung": {"land": "object", "gemarkungsnummer": "object", "bezeichnung": "object"},
    "AP_PTO": {"art": "object", "dient_zur_darstellung_von": "object"},
    LAYER_LAND_USE: {
        "nutzart": "object",
        "nutzart_name": "object",
        "nutzart_gruppe": "object",
        "funktion": "Int64",
        "name": "object",
    },
    LAYER_ADDRESSES: {
        "ags": "object",
        "strasse": "object",
        "hausnummer": "object",
        "lage": "object",
        "location_source": "object",
    },
}


# --- streaming ---------------------------------------------------------------------


def _inside_feature(elem: etree._Element) -> bool:
    return any(local_name(a) in NAS_FEATURE_TYPES for a in elem.iterancestors())


def _iter_elements(source: Path, wanted: frozenset[str]) -> Iterator[etree._Element]:
    """Feature elements of the wanted types, each released once the caller moves on."""
    tags = [f"{{*}}{name}" for name in sorted(NAS_FEATURE_TYPES | _CONTAINERS)]
    try:
        refuse_dtd(source, f"NAS-Datei {source.name}")
        # Second line of defence: entities stay unresolved and nothing is fetched.
        events = etree.iterparse(
            str(source),
            events=("end",),
            tag=tags,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=True,
        )
        for _, elem in events:
            if _inside_feature(elem):
                continue
            if local_name(elem) in wanted and elem.get(_GML_ID) is not None:
                yield elem
            release_element(elem)
    except etree.XMLSyntaxError as e:
        raise NasFormatError(
            f"NAS-Datei {source.name} ist kein wohlgeformtes XML (Zeile {e.lineno}): {e.msg}"
        ) from e
    except OSError as e:
        raise NasFormatError(f"NAS-Datei {source.name} kann nicht gelesen werden: {e}") from e


def _position(props: _Properties) -> etree._Element | None:
    prop = props.find("position")
    return None if prop is None else first_child(prop)


def _to_feature(source: Path, elem: etree._Element, with_geometry: bool = True) -> NasFeature:
    feature_type = local_name(elem)
    gml_id = str(elem.get(_GML_ID))
    try:
        props = _Properties(elem)
        properties = _EXTRACTORS[feature_type](props)
        geometry: BaseGeometry | None = None
        srs: str | None = None
        position = _position(props) if with_geometry else None
        if position is not None:
            geometry = parse_geometry(position)
            srs = srs_name(position)
    except (ValueError, ShapelyError) as e:  # _ValueProblem, GmlGeometryError, GEOS
        raise NasFormatError(f"NAS-Datei {source.name}, {feature_type} {gml_id}: {e}") from e
    return NasFeature(feature_type, gml_id, properties, geometry, srs)


def _check_types(names: Iterable[str], known: frozenset[str], what: str) -> None:
    unknown = sorted(set(names) - known)
    if unknown:
        raise SourceDefinitionError(
            f"Unbekannte NAS-{what} {', '.join(unknown)}; möglich sind: {', '.join(sorted(known))}"
        )


def iter_nas_features(
    source: Path, feature_types: Collection[str] | None = None
) -> Iterator[NasFeature]:
    """Features of the given types (all of NAS_FEATURE_TYPES by default), in file order."""
    wanted = NAS_FEATURE_TYPES if feature_types is None else frozenset(feature_types)
    _check_types(wanted, NAS_FEATURE_TYPES, "Objektart(en)")
    for elem in _iter_elements(source, wanted):
        yield _to_feature(source, elem)


# --- frames ------------------------------------------------------------------------


def _frame(rows: list[NasFeature], columns: dict[str, str], crs: str | None) -> gpd.GeoDataFrame:
    data: dict[str, pd.Series] = {
        "gml_id": pd.Series([r.gml_id for r in rows], dtype="object"),
        "feature_type": pd.Series([r.feature_type for r in rows], dtype="object"),
    }
    for column, dtype in columns.items():
        data[column] = pd.Series([r.properties.get(column) for r in rows], dtype=dtype)
    geometry = gpd.GeoSeries([r.geometry for r in rows], crs=crs)
    return gpd.GeoDataFrame(data, geometry=geometry, crs=crs)


def _batches(
    features: Iterable[NasFeature], columns: dict[str, str], batch_size: int
) -> Iterator[gpd.GeoDataFrame]:
    """Frames of at most batch_size rows; a change of CRS starts a new frame."""
    rows: list[NasFeature] = []
    crs: str | None = None
    for feature in features:
        feature_crs = nas_crs(feature.srs_name)
        if rows and feature_crs is not None and crs is not None and feature_crs != crs:
            yield _frame(rows, columns, crs)
            rows, crs = [], None
        rows.append(feature)
        crs = crs or feature_crs
        if len(rows) >= batch_size:
            yield _frame(rows, columns, crs)
            rows, crs = [], None
    if rows:
        yield _frame(rows, columns, crs)


def _gemarkung_names(source: Path) -> dict[tuple[str, str], str]:
    """(land, gemarkungsnummer) -> name, from the AX_Gemarkung catalogue objects in the file."""
    names: dict[tuple[str, str], str] = {}
    for elem in _iter_elements(source, frozenset({"AX_Gemarkung"})):
        props = _to_feature(source, elem, with_geometry=False).properties
        if props["land"] and props["gemarkungsnummer"] and props["bezeichnung"]:
            names[(props["land"], props["gemarkungsnummer"])] = props["bezeichnung"]
    return names


def _with_gemarkung_names(source: Path) -> Iterator[NasFeature]:
    names = _gemarkung_names(source)
    for feature in iter_nas_features(source, ["AX_Flurstueck"]):
        props = feature.properties
        if names and props["gemarkung_name"] is None:
            props["gemarkung_name"] = names.get((props["land"], props["gemarkungsnummer"]))
        yield feature


def read_nas_frames(source: Path, layer: str, batch_size: int) -> Iterator[gpd.GeoDataFrame]:
    """Frames (<= batch_size rows) of a feature type, "TatsaechlicheNutzung" or "Adressen"."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    _check_types([layer], NAS_LAYERS, "Ebene")
    features: Iterable[NasFeature]
    if layer == LAYER_ADDRESSES:
        features = _resolve_addresses(source)
    elif layer == LAYER_LAND_USE:
        features = iter_nas_features(source, LAND_USE_TYPES)
    elif layer == "AX_Flurstueck":
        features = _with_gemarkung_names(source)
    else:
        features = iter_nas_features(source, [layer])
    yield from _batches(features, _COLUMNS[layer], batch_size)


# --- addresses ---------------------------------------------------------------------


@dataclass
class _Address:
    gml_id: str
    oid: str
    properties: dict[str, Any]


def _feature_oid(elem: etree._Element) -> str:
    identifier = _value(_child(elem, "identifier"))
    return _oid(identifier or str(elem.get(_GML_ID)))


def _lage_key(ags: str | None, lage: str | None) -> tuple[str, str] | None:
    return None if ags is None or lage is None else (ags, lage.strip().zfill(5))


_Location = tuple[Point, str | None]


def _representative_point(feature: NasFeature) -> _Location | None:
    if feature.geometry is None or feature.geometry.is_empty:
        return None
    return feature.geometry.point_on_surface(), feature.srs_name


def _resolve_addresses(source: Path) -> Iterator[NasFeature]:
    """AX_LagebezeichnungMitHausnummer as points: AP_PTO 'HNR', else building, else parcel."""
    addresses: list[_Address] = []
    streets: dict[tuple[str, str], str] = {}
    pto: dict[str, _Location] = {}
    first = frozenset(
        {"AX_LagebezeichnungMitHausnummer", "AX_LagebezeichnungKatalogeintrag", "AP_PTO"}
    )
    for elem in _iter_elements(source, first):
        feature = _to_feature(source, elem)
        props = feature.properties
        if feature.feature_type == "AX_LagebezeichnungMitHausnummer":
            addresses.append(_Address(feature.gml_id, _feature_oid(elem), props))
        elif feature.feature_type == "AX_LagebezeichnungKatalogeintrag":
            key = _lage_key(props["ags"], props["lage"])
            if key is not None and props["bezeichnung"]:
                streets[key] = props["bezeichnung"]
        elif props["art"] == "HNR" and isinstance(feature.geometry, Point):
            for ref in props["dient_zur_darstellung_von"]:
                pto.setdefault(_oid(ref), (feature.geometry, feature.srs_name))

    # Second pass only for addresses without a PTO; geometry is parsed only for
    # buildings and parcels that refer to one of them, and only a point is kept.
    missing = {a.oid for a in addresses if a.oid not in pto}
    buildings: dict[str, _Location] = {}
    parcels: dict[str, _Location] = {}
    if missing:
        for elem in _iter_elements(source, frozenset({"AX_Gebaeude", "AX_Flurstueck"})):
            found = buildings if local_name(elem) == "AX_Gebaeude" else parcels
            names = ("zeigtAuf",) if found is buildings else ("weistAuf", "zeigtAuf")
            refs = [
                r
                for r in map(_oid, _Properties(elem).refs(*names))
                if r in missing and r not in found
            ]
            if not refs:
                continue
            point = _representative_point(_to_feature(source, elem))
            if point is not None:
                for ref in refs:
                    found[ref] = point

    for address in addresses:
        props = address.properties
        location: _Location | None = None
        source_name: str | None = None
        for name, table in (("AP_PTO", pto), ("Gebaeude", buildings), ("Flurstueck", parcels)):
            if address.oid in table:
                location, source_name = table[address.oid], name
                break
        strasse = props["strasse"]
        if strasse is None:
            key = _lage_key(props["ags"], props["lage"])
            strasse = streets.get(key) if key is not None else None
        yield NasFeature(
            feature_type="AX_LagebezeichnungMitHausnummer",
            gml_id=address.gml_id,
            properties={
                "ags": props["ags"],
                "strasse": strasse,
                "hausnummer": props["hausnummer"],
                "lage": props["lage"],
                "location_source": source_name,
            },
            geometry=location[0] if location else None,
            srs_name=location[1] if location else None,
        )
