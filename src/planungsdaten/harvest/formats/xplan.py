"""Streaming reader for development plans in XPlanGML 4.x–6.x: one row per plan.

XPlanGML is the GML exchange format of XPlanung, the German standard for land-use
plans: BP_Plan (Bebauungsplan), FP_Plan (Flächennutzungsplan), RP_Plan
(Raumordnungsplan), LP_Plan (Landschaftsplan) and SO_Plan (sonstiger Plan), each
with its Geltungsbereich. A file (`XPlanAuszug`) or an XPlanArchiv (ZIP holding
`xplan.gml` and the plan documents) is parsed with lxml, streaming; the plan
contents (BP_*Flaeche, Bereiche, presentation objects) are skipped and released, so
memory stays flat. Elements are matched by local name, so every XPlanGML version
(namespace `http://www.xplanung.de/xplangml/<major>/<minor>`) reads alike.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import IO, Any, Final

import geopandas as gpd
import pandas as pd
from lxml import etree
from shapely.errors import ShapelyError
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from planungsdaten.harvest.errors import SourceDefinitionError, SourceFormatError
from planungsdaten.harvest.formats.gml_geometry import (
    first_child,
    local_name,
    parse_geometry,
    release_element,
)
from planungsdaten.harvest.formats.gml_geometry import srs_name as geometry_srs_name
from planungsdaten.harvest.formats.nas import NasFormatError, nas_crs
from planungsdaten.harvest.xmlsafety import refuse_dtd

PLAN_TYPES: Final[frozenset[str]] = frozenset(
    {"BP_Plan", "FP_Plan", "RP_Plan", "LP_Plan", "SO_Plan"}
)

COLUMNS: Final[tuple[str, ...]] = (
    "gml_id",
    "plan_type",
    "xplan_version",
    "name",
    "number",
    "plan_art",
    "plan_art_name",
    "legal_status",
    "legal_status_name",
    "ags",
    "municipality_name",
    "in_force_date",
    "decision_date",
    "adoption_date",
    "document_urls",
)

# Code lists (enumerations of the XPlanung schema, 4.1–6.0) by plan type.
_PLAN_ART_NAMES: Final[dict[str, dict[str, str]]] = {
    "BP_Plan": {
        "1000": "BPlan",
        "10000": "EinfacherBPlan",
        "10001": "QualifizierterBPlan",
        "10002": "BebauungsplanZurWohnraumversorgung",
        "3000": "VorhabenbezogenerBPlan",
        "3100": "VorhabenUndErschliessungsplan",
        "4000": "InnenbereichsSatzung",
        "40000": "KlarstellungsSatzung",
        "40001": "EntwicklungsSatzung",
        "40002": "ErgaenzungsSatzung",
        "5000": "AussenbereichsSatzung",
        "7000": "OertlicheBauvorschrift",
        "9999": "Sonstiges",
    },
    "FP_Plan": {
        "1000": "FPlan",
        "2000": "GemeinsamerFPlan",
        "3000": "RegFPlan",
        "4000": "FPlanRegPlan",
        "5000": "SachlicherTeilplan",
        "9999": "Sonstiges",
    },
    "LP_Plan": {
        "1000": "Landschaftsprogramm",
        "2000": "Landschaftsrahmenplan",
        "3000": "Landschaftsplan",
        "4000": "Gruenordnungsplan",
        "9999": "Sonstiges",
    },
}
_PROCEDURE_STAGES: Final[dict[str, str]] = {
    "1000": "Aufstellungsbeschluss",
    "2000": "Entwurf",
    "2100": "FruehzeitigeBehoerdenBeteiligung",
    "2200": "FruehzeitigeOeffentlichkeitsBeteiligung",
    "2250": "Entwurfsbeschluss",  # 6.0
    "2300": "BehoerdenBeteiligung",
    "2400": "OeffentlicheAuslegung",
}
_LEGAL_STATUS_NAMES: Final[dict[str, dict[str, str]]] = {
    "BP_Plan": _PROCEDURE_STAGES
    | {
        "3000": "Satzung",
        "4000": "InkraftGetreten",
        "4500": "TeilweiseUntergegangen",
        "45000": "TeilweiseAufgehoben",  # 6.0
        "45001": "TeilweiseAusserKraft",  # 6.0
        "5000": "Untergegangen",
        "50000": "Aufgehoben",  # 5.3 and later
        "50001": "AusserKraft",  # 5.3 and later
    },
    "FP_Plan": _PROCEDURE_STAGES
    | {
        "3000": "Plan",
        "4000": "Wirksamkeit",
        "5000": "Untergegangen",
        "50000": "Aufgehoben",
        "50001": "AusserKraft",
    },
    "LP_Plan": {
        "1000": "Aufstellungsbeschluss",
        "2000": "Entwurf",
        "3000": "Plan",
        "4000": "Wirksamkeit",
        "5000": "Untergegangen",
    },
}
# XPlanGML 6.0 renamed FP_Rechtsstand 2000 "Entwurf" to "ImVerfahren".
_LEGAL_STATUS_NAMES_6: Final[dict[str, dict[str, str]]] = {
    "FP_Plan": _LEGAL_STATUS_NAMES["FP_Plan"] | {"2000": "ImVerfahren"},
}

# Date properties in order of preference; BP, FP, RP and LP name them differently.
_IN_FORCE: Final = ("inkrafttretensDatum", "wirksamkeitsDatum", "datumDesInkrafttretens")
_IN_FORCE_LP: Final = ("inkrafttretenDatum",)
_DECISION: Final = ("aufstellungsbeschlussDatum",)
_ADOPTION: Final = ("satzungsbeschlussDatum", "planbeschlussDatum")

_GML_IDS: Final = ("{http://www.opengis.net/gml/3.2}id", "{http://www.opengis.net/gml}id")
_XPLAN_NAMESPACE = re.compile(r"https?://www\.xplanung\.de/xplangml/(\d+)/(\d+)/?")
_XSD_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T[0-9:.]+)?(?:Z|[+-]\d{2}:\d{2})?")
# Elements that wrap features in an XPlanAuszug or a WFS response.
_CONTAINERS: Final = frozenset({"featureMember", "featureMembers", "member"})


class XPlanFormatError(SourceFormatError):
    """The XPlanGML file or XPlanArchiv cannot be read or holds unusable plan values."""


class _ValueProblem(ValueError):
    """A property value of one plan is unusable (German message, wrapped with context)."""


@dataclass(frozen=True)
class _PlanRow:
    properties: dict[str, Any]
    geometry: BaseGeometry | None
    crs: str | None


# --- values ------------------------------------------------------------------------


def _text(node: etree._Element | None) -> str | None:
    # Only the element's own text: unresolved entity references never become values.
    if node is None or node.text is None:
        return None
    return node.text.strip() or None


class _Properties:
    """The direct property elements of one plan by local name."""

    __slots__ = ("by_name",)

    def __init__(self, elem: etree._Element) -> None:
        self.by_name: dict[str, list[etree._Element]] = {}
        for child in elem:
            name = local_name(child)
            if name:
                self.by_name.setdefault(name, []).append(child)

    def first(self, name: str) -> etree._Element | None:
        nodes = self.by_name.get(name)
        return nodes[0] if nodes else None

    def text(self, *names: str) -> str | None:
        """Text of the first non-empty property among names."""
        for name in names:
            for node in self.by_name.get(name, ()):
                value = _text(node)
                if value is not None:
                    return value
        return None

    def texts(self, name: str) -> list[str]:
        return [value for node in self.by_name.get(name, ()) if (value := _text(node))]

    def date(self, *names: str) -> str | None:
        """ISO date of the first date property among names (xs:date, zone dropped)."""
        for name in names:
            value = self.text(name)
            if value is not None:
                return _iso_date(value, name)
        return None


def _iso_date(value: str, name: str) -> str:
    match = _XSD_DATE.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        return date.fromisoformat(match.group(1)).isoformat()
    except ValueError as e:
        raise _ValueProblem(f"{name} ist kein Datum: {value!r}") from e


def _xplan_version(elem: etree._Element) -> str | None:
    """'5.3', '6.0', … from the namespace of a plan element."""
    namespace = etree.QName(elem).namespace or ""
    match = _XPLAN_NAMESPACE.fullmatch(namespace)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _ags(gemeinde: etree._Element | None) -> tuple[str | None, str | None]:
    """AGS and municipality name of an XP_Gemeinde; AGS derived from the RS if needed."""
    if gemeinde is None:
        return None, None
    props = _Properties(gemeinde)
    name = props.text("gemeindeName")
    ags = props.text("ags")
    if ags is not None:
        ags = "".join(ags.split())
        if len(ags) == 12 and ags.isdigit():  # a Regionalschlüssel in the ags field
            return ags[:5] + ags[9:], name
        if len(ags) != 8 or not ags.isdigit():
            raise _ValueProblem(f"ags {ags!r} ist kein 8-stelliger Gemeindeschlüssel")
        return ags, name
    rs = props.text("rs")
    if rs is not None:
        rs = "".join(rs.split())
        if len(rs) != 12 or not rs.isdigit():
            raise _ValueProblem(f"rs {rs!r} ist kein 12-stelliger Regionalschlüssel")
        # ARS: Land 2, RB 1, Kreis 2, Verband 4, Gemeinde 3.
        return rs[:5] + rs[9:], name
    return None, name


def _document_urls(elem: etree._Element) -> list[str] | None:
    """referenzURL of every external reference of the plan, in file order, once each."""
    urls: dict[str, None] = {}
    for node in elem.iterdescendants("{*}referenzURL"):
        url = _text(node)
        if url is not None:
            urls.setdefault(url, None)
    return list(urls) or None


def _code_names(codes: list[str], table: dict[str, str] | None) -> str | None:
    """Names of the codes, '; '-separated like the codes; None unless all are known."""
    if not codes or table is None or any(code not in table for code in codes):
        return None
    return "; ".join(table[code] for code in codes)


def _geometry(
    props: _Properties, default_srs: str | None
) -> tuple[BaseGeometry | None, str | None]:
    """Geltungsbereich as (Multi)Polygon with its CRS ('EPSG:25832', …)."""
    prop = props.first("raeumlicherGeltungsbereich")
    geometry_elem = first_child(prop) if prop is not None else None
    srs: str | None = None
    geometry: BaseGeometry | None = None
    if geometry_elem is not None:
        geometry = parse_geometry(geometry_elem)
        if not isinstance(geometry, Polygon | MultiPolygon):
            raise _ValueProblem(
                f"raeumlicherGeltungsbereich ist keine Fläche, sondern {geometry.geom_type}"
            )
        srs = geometry_srs_name(geometry_elem)
    if srs is None:
        # No srsName on the geometry: the plan's, then the file's bounding box.
        envelope = props.first("boundedBy")
        srs = (geometry_srs_name(envelope) if envelope is not None else None) or default_srs
    try:
        crs = nas_crs(srs)
    except NasFormatError as e:
        raise _ValueProblem(str(e)) from e
    if geometry is not None and crs is None:
        raise _ValueProblem("raeumlicherGeltungsbereich ohne Koordinatenreferenzsystem (srsName)")
    return geometry, crs


def _plan_row(elem: etree._Element, default_srs: str | None) -> _PlanRow:
    plan_type = local_name(elem)
    version = _xplan_version(elem)
    props = _Properties(elem)
    plan_art = props.texts("planArt")
    legal_status = props.text("rechtsstand")
    status_names = _LEGAL_STATUS_NAMES.get(plan_type)
    if version is not None and version.startswith("6."):
        status_names = _LEGAL_STATUS_NAMES_6.get(plan_type, status_names)
    gemeinde = props.first("gemeinde")  # not planaufstellendeGemeinde
    ags, municipality = _ags(first_child(gemeinde) if gemeinde is not None else None)
    geometry, crs = _geometry(props, default_srs)
    in_force = _IN_FORCE_LP if plan_type == "LP_Plan" else _IN_FORCE
    properties = {
        "gml_id": _gml_id(elem),
        "plan_type": plan_type,
        "xplan_version": version,
        "name": props.text("name"),
        "number": props.text("nummer"),
        "plan_art": "; ".join(plan_art) or None,
        "plan_art_name": _code_names(plan_art, _PLAN_ART_NAMES.get(plan_type)),
        "legal_status": legal_status,
        "legal_status_name": (
            status_names.get(legal_status) if status_names and legal_status else None
        ),
        "ags": ags,
        "municipality_name": municipality,
        "in_force_date": props.date(*in_force),
        "decision_date": props.date(*_DECISION),
        "adoption_date": props.date(*_ADOPTION),
        "document_urls": _document_urls(elem),
    }
    return _PlanRow(properties, geometry, crs)


def _gml_id(elem: etree._Element) -> str | None:
    for attribute in _GML_IDS:
        value = elem.get(attribute)
        if value:
            return value
    return None


# --- streaming ---------------------------------------------------------------------


def _root_envelope_srs(elem: etree._Element) -> str | None:
    """srsName of the file's own gml:boundedBy envelope (None for any other Envelope)."""
    bounded_by = elem.getparent()
    if bounded_by is None or local_name(bounded_by) != "boundedBy":
        return None
    owner = bounded_by.getparent()
    if owner is None or owner.getparent() is not None:
        return None
    return elem.get("srsName") or None


def _iter_plans(stream: str | IO[bytes], label: str, wanted: frozenset[str]) -> Iterator[_PlanRow]:
    """Rows of the wanted plan types; every feature is released once it has been read."""
    default_srs: str | None = None
    try:
        # Second line of defence (the prolog was checked by the caller): entities stay
        # unresolved and nothing is fetched.
        events = etree.iterparse(
            stream,
            events=("end",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=True,
            remove_comments=True,
            remove_pis=True,
        )
        for _, elem in events:
            name = local_name(elem)
            if name in PLAN_TYPES:
                if name in wanted:
                    try:
                        row = _plan_row(elem, default_srs)
                    except (ValueError, ShapelyError) as e:  # _ValueProblem, GML, GEOS
                        raise XPlanFormatError(
                            f"XPlanGML-Datei {label}, {name} {_gml_id(elem) or '?'}: {e}"
                        ) from e
                    yield row
                release_element(elem)
            elif name in _CONTAINERS:
                release_element(elem)
            elif name == "Envelope" and default_srs is None:
                default_srs = _root_envelope_srs(elem)
            else:
                parent = elem.getparent()
                # A feature of a container (BP_Bereich, BP_*Flaeche …): not needed.
                if parent is not None and local_name(parent) in _CONTAINERS:
                    release_element(elem)
    except etree.XMLSyntaxError as e:
        raise XPlanFormatError(
            f"XPlanGML-Datei {label} ist kein wohlgeformtes XML (Zeile {e.lineno}): {e.msg}"
        ) from e
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise XPlanFormatError(f"XPlanGML-Datei {label} ist beschädigt: {e}") from e
    except OSError as e:
        raise XPlanFormatError(f"XPlanGML-Datei {label} kann nicht gelesen werden: {e}") from e


def _is_zip(source: Path) -> bool:
    if source.suffix.lower() == ".zip":
        return True
    try:
        with source.open("rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError as e:
        raise XPlanFormatError(
            f"XPlanGML-Datei {source.name} kann nicht gelesen werden: {e}"
        ) from e


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or re.match(r"[A-Za-z]:", name) is not None


def _gml_member(archive: zipfile.ZipFile, source: Path) -> zipfile.ZipInfo:
    """The plan GML of an XPlanArchiv: 'xplan.gml', else the only *.gml file."""
    members = [info for info in archive.infolist() if not info.is_dir()]
    for info in members:
        if _unsafe(info.filename):
            raise XPlanFormatError(
                f"XPlanArchiv {source.name} enthält einen unzulässigen Dateinamen "
                f"{info.filename!r} (absoluter Pfad oder '..')"
            )
    gml = [info for info in members if info.filename.lower().endswith(".gml")]
    named = [info for info in gml if PurePosixPath(info.filename).name.lower() == "xplan.gml"]
    if len(named) == 1:
        return named[0]
    candidates = named or gml
    if not candidates:
        raise XPlanFormatError(f"XPlanArchiv {source.name} enthält keine GML-Datei")
    if len(candidates) > 1:
        names = ", ".join(info.filename for info in candidates)
        raise XPlanFormatError(
            f"XPlanArchiv {source.name} enthält mehrere GML-Dateien ({names}); "
            "erwartet wird eine Datei xplan.gml"
        )
    return candidates[0]


def _iter_archive(source: Path, wanted: frozenset[str]) -> Iterator[_PlanRow]:
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile as e:
        raise XPlanFormatError(f"XPlanArchiv {source.name} ist beschädigt: {e}") from e
    except OSError as e:
        raise XPlanFormatError(f"XPlanArchiv {source.name} kann nicht gelesen werden: {e}") from e
    with archive:
        member = _gml_member(archive, source)
        label = f"{member.filename} im XPlanArchiv {source.name}"
        try:
            with archive.open(member) as head:
                refuse_dtd(head, f"XPlanGML-Datei {label}")
            stream = archive.open(member)
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as e:
            # RuntimeError: encrypted; NotImplementedError: unknown compression method.
            raise XPlanFormatError(f"XPlanGML-Datei {label} ist beschädigt: {e}") from e
        with stream:
            # ZipExtFile decompresses while lxml reads: the GML is never held in memory.
            yield from _iter_plans(stream, label, wanted)


def _wanted(layer: str | None) -> frozenset[str]:
    if layer is None:
        return PLAN_TYPES
    if layer not in PLAN_TYPES:
        raise SourceDefinitionError(
            f"Unbekannte XPlanGML-Ebene {layer}; möglich sind: {', '.join(sorted(PLAN_TYPES))}"
        )
    return frozenset({layer})


def _iter_rows(source: Path, wanted: frozenset[str]) -> Iterator[_PlanRow]:
    if _is_zip(source):
        return _iter_archive(source, wanted)
    try:
        refuse_dtd(source, f"XPlanGML-Datei {source.name}")
    except OSError as e:
        raise XPlanFormatError(
            f"XPlanGML-Datei {source.name} kann nicht gelesen werden: {e}"
        ) from e
    return _iter_plans(str(source), source.name, wanted)


# --- frames ------------------------------------------------------------------------


def _frame(rows: list[_PlanRow], crs: str | None) -> gpd.GeoDataFrame:
    data = {
        column: pd.Series([r.properties[column] for r in rows], dtype="object")
        for column in COLUMNS
    }
    geometry = gpd.GeoSeries([r.geometry for r in rows], crs=crs)
    return gpd.GeoDataFrame(data, geometry=geometry, crs=crs)


def _batches(rows: Iterable[_PlanRow], batch_size: int) -> Iterator[gpd.GeoDataFrame]:
    """Frames of at most batch_size rows; a change of CRS starts a new frame."""
    batch: list[_PlanRow] = []
    crs: str | None = None
    for row in rows:
        if batch and row.crs is not None and crs is not None and row.crs != crs:
            yield _frame(batch, crs)
            batch, crs = [], None
        batch.append(row)
        crs = crs or row.crs
        if len(batch) >= batch_size:
            yield _frame(batch, crs)
            batch, crs = [], None
    if batch:
        yield _frame(batch, crs)


def read_xplan_frames(
    source: Path, layer: str | None, batch_size: int
) -> Iterator[gpd.GeoDataFrame]:
    """Frames (<= batch_size rows, one CRS each) of the plans of one type or of all types."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    yield from _batches(_iter_rows(source, _wanted(layer)), batch_size)
