"""Sample planning data for Mücheln (Geiseltal) in the real source formats: Zensus 2022 grid
ZIPs, BASt annual results of count stations, a municipal traffic count CSV and one
development plan in XPlanGML 6.0. Deterministic: the same code writes the same bytes."""

from __future__ import annotations

import csv
import io
import math
import random
import zipfile
from pathlib import Path

from pyproj import Transformer

ZENSUS_POPULATION_FILE = "Zensus2022_Bevoelkerungszahl.zip"
ZENSUS_VACANCY_FILE = "Zensus2022_Leerstandsquote.zip"
JAWE_FILE = "Jawe2023.csv"
MUNICIPAL_COUNTS_FILE = "Verkehrszaehlung_Muecheln_2024.csv"
XPLAN_FILE = "BPlan_Am_Geiseltalsee.gml"

# the sample cadastre's rectangle (EPSG:25832) and the town centre
AREA_25832 = (691_900.0, 5_686_400.0, 697_400.0, 5_690_000.0)
CENTRE_25832 = (693_900.0, 5_688_200.0)
_ZIP_DATE = (2024, 6, 25, 0, 0, 0)


def _cells_3035(size: int) -> list[tuple[int, int]]:
    """Lower-left corners (EPSG:3035) of the grid cells covering the sample area."""
    to_3035 = Transformer.from_crs(25832, 3035, always_xy=True)
    xs, ys = to_3035.transform(
        [AREA_25832[0], AREA_25832[2], AREA_25832[0], AREA_25832[2]],
        [AREA_25832[1], AREA_25832[1], AREA_25832[3], AREA_25832[3]],
    )
    x0, y0 = math.floor(min(xs) / size) * size, math.floor(min(ys) / size) * size
    x1, y1 = math.ceil(max(xs) / size) * size, math.ceil(max(ys) / size) * size
    return [(x, y) for y in range(y0, y1, size) for x in range(x0, x1, size)]


def _centre_3035() -> tuple[float, float]:
    x, y = Transformer.from_crs(25832, 3035, always_xy=True).transform(*CENTRE_25832)
    return float(x), float(y)


def _german(value: float, digits: int) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def _grid_csv(size: int, header: str, values: list[tuple[int, int, str, str]]) -> bytes:
    label = "100m" if size == 100 else f"{size // 1000}km"
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        [f"GITTER_ID_{label}", f"x_mp_{label}", f"y_mp_{label}", header, "werterlaeuternde_Zeichen"]
    )
    for x, y, value, flag in values:
        cell = f"CRS3035RES{size}mN{y}E{x}"
        writer.writerow([cell, x + size // 2, y + size // 2, value, flag])
    return out.getvalue().encode("utf-8")


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def population_values(rng: random.Random, size: int) -> list[tuple[int, int, str, str]]:
    """Einwohner per cell: dense in the town, sparse outside; small counts suppressed ('–')
    or marked as uncertain (KLAMMERN) as destatis does."""
    cx, cy = _centre_3035()
    rows = []
    for x, y in _cells_3035(size):
        distance = math.hypot(x + size / 2 - cx, y + size / 2 - cy)
        expected = (size / 100) ** 2 * 60 * math.exp(-distance / 900)
        people = int(rng.gauss(expected, expected * 0.2 + 1))
        if people <= 0:
            continue  # destatis publishes inhabited cells only
        if people < 3:
            rows.append((x, y, "–", ""))
        else:
            rows.append((x, y, str(people), "KLAMMERN" if people < 10 else ""))
    return rows


def vacancy_values(rng: random.Random, size: int) -> list[tuple[int, int, str, str]]:
    """Leerstandsquote in percent per cell, decimal comma."""
    rows = []
    for x, y, people, _ in population_values(random.Random(4711), size):
        if people == "–":
            rows.append((x, y, "–", ""))
        else:
            rows.append((x, y, _german(max(0.0, rng.gauss(9.5, 4.0)), 1), ""))
    return rows


# BASt Jawe: the key fields and the ~250 columns around them
JAWE_KEYS = [
    "DZ_Nr",
    "DZ_Name",
    "Land_Code",
    "Str_Kl",
    "Str_Nr",
    "DTV_Kfz_MobisSo_Q",
    "DTV_SV_MobisSo_Q",
    "pSV_MobisSo_Q",
    "Koor_UTM32_E",
    "Koor_UTM32_N",
    "Koor_WGS84_N",
    "Koor_WGS84_E",
]
JAWE_STATIONS = [
    ("4503", "Mücheln (Geiseltal)", "A", "38", 693_400.0, 5_690_900.0, 31_250.0, 5_210.0),
    ("4504", "Großkayna", "A", "38", 699_800.0, 5_689_300.0, 33_980.0, 5_730.0),
    ("4621", "Branderoda", "B", "176", 690_200.0, 5_686_100.0, 6_480.0, 610.0),
    ("4622", "Stöbnitz", "B", "91", 696_900.0, 5_684_700.0, 9_120.0, 1_040.0),
]


def jawe_csv() -> bytes:
    """Jawe2023.csv: Latin-1, ';', decimal comma, ~250 columns, NA for missing values."""
    extra = [f"Wert_{i:03d}" for i in range(238)]
    to_wgs = Transformer.from_crs(25832, 4326, always_xy=True)
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["TKNR", *JAWE_KEYS, *extra])
    for nr, name, cls, road, e, n, kfz, sv in JAWE_STATIONS:
        lon, lat = to_wgs.transform(e, n)
        key = [
            nr,
            name,
            "15",
            cls,
            road,
            _german(kfz, 0),
            _german(sv, 0),
            _german(sv / kfz * 100, 1),
            _german(e, 1),
            _german(n, 1),
            _german(lat, 6),
            _german(lon, 6),
        ]
        writer.writerow([f"{nr}0", *key, *(["NA"] * len(extra))])
    return out.getvalue().encode("latin-1")


def municipal_counts_csv() -> bytes:
    """A town's own counting points: the simple CSV a Bauamt keeps (Windows-1252)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Zählstelle", "Straße", "Jahr", "Kfz/24h", "SV/24h", "Rechtswert", "Hochwert"])
    points = [
        ("MÜ-01", "Hauptstraße", "4.820", "310", "693.880,0", "5.688.150,0"),
        ("MÜ-02", "Bahnhofstraße", "2.950", "145", "694.310,0", "5.688.620,0"),
        ("MÜ-03", "Straße der Einheit", "3.410", "220", "693.420,0", "5.687.780,0"),
        ("MÜ-04", "Am Geiseltalsee", "1.760", "60", "695.900,0", "5.688.900,0"),
    ]
    for station, street, kfz, sv, e, n in points:
        writer.writerow([station, street, "2024", kfz, sv, e, n])
    return out.getvalue().encode("cp1252")


def xplan_gml() -> bytes:
    """One Bebauungsplan in XPlanGML 6.0 (XPlanAuszug), Geltungsbereich in EPSG:25832."""
    x0, y0 = 695_200.0, 5_688_500.0
    ring = [(x0, y0), (x0 + 600, y0), (x0 + 650, y0 + 380), (x0 + 80, y0 + 420), (x0, y0)]
    pos = " ".join(f"{x:.2f} {y:.2f}" for x, y in ring)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xplan:XPlanAuszug xmlns:xplan="http://www.xplanung.de/xplangml/6/0"
    xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:xlink="http://www.w3.org/1999/xlink"
    gml:id="GML_auszug_muecheln_1">
  <gml:boundedBy>
    <gml:Envelope srsName="EPSG:25832">
      <gml:lowerCorner>{x0:.2f} {y0:.2f}</gml:lowerCorner>
      <gml:upperCorner>{x0 + 650:.2f} {y0 + 420:.2f}</gml:upperCorner>
    </gml:Envelope>
  </gml:boundedBy>
  <gml:featureMember>
    <xplan:BP_Plan gml:id="GML_bp_am_geiseltalsee">
      <xplan:name>Bebauungsplan Nr. 12 „Wohngebiet Am Geiseltalsee“</xplan:name>
      <xplan:nummer>12</xplan:nummer>
      <xplan:technHerstellDatum>2023-03-01</xplan:technHerstellDatum>
      <xplan:externeReferenz>
        <xplan:XP_SpezExterneReferenz>
          <xplan:referenzName>Begründung</xplan:referenzName>
          <xplan:referenzURL>https://www.stadt-muecheln.de/bplan/12/begruendung.pdf</xplan:referenzURL>
          <xplan:typ>1010</xplan:typ>
        </xplan:XP_SpezExterneReferenz>
      </xplan:externeReferenz>
      <xplan:raeumlicherGeltungsbereich>
        <gml:MultiSurface gml:id="GML_gb_1" srsName="EPSG:25832">
          <gml:surfaceMember>
            <gml:Polygon gml:id="GML_gb_1_p">
              <gml:exterior><gml:LinearRing><gml:posList>{pos}</gml:posList></gml:LinearRing></gml:exterior>
            </gml:Polygon>
          </gml:surfaceMember>
        </gml:MultiSurface>
      </xplan:raeumlicherGeltungsbereich>
      <xplan:gemeinde>
        <xplan:XP_Gemeinde>
          <xplan:ags>15088235</xplan:ags>
          <xplan:gemeindeName>Mücheln (Geiseltal)</xplan:gemeindeName>
        </xplan:XP_Gemeinde>
      </xplan:gemeinde>
      <xplan:planArt>1000</xplan:planArt>
      <xplan:rechtsstand>4000</xplan:rechtsstand>
      <xplan:aufstellungsbeschlussDatum>2019-05-14</xplan:aufstellungsbeschlussDatum>
      <xplan:satzungsbeschlussDatum>2022-11-22</xplan:satzungsbeschlussDatum>
      <xplan:inkrafttretensDatum>2023-01-20</xplan:inkrafttretensDatum>
    </xplan:BP_Plan>
  </gml:featureMember>
</xplan:XPlanAuszug>
""".encode()


def generate_planning(out_dir: Path, seed: int = 4711) -> list[Path]:
    """Write the planning sample files; returns their paths."""
    written = []
    population = out_dir / ZENSUS_POPULATION_FILE
    _zip(
        population,
        {
            "Zensus2022_Bevoelkerungszahl_100m-Gitter.csv": _grid_csv(
                100, "Einwohner", population_values(random.Random(seed), 100)
            ),
            "Zensus2022_Bevoelkerungszahl_1km-Gitter.csv": _grid_csv(
                1000, "Einwohner", population_values(random.Random(seed + 1), 1000)
            ),
        },
    )
    vacancy = out_dir / ZENSUS_VACANCY_FILE
    _zip(
        vacancy,
        {
            "Zensus2022_Leerstandsquote_100m-Gitter.csv": _grid_csv(
                100, "Leerstandsquote", vacancy_values(random.Random(seed + 2), 100)
            ),
        },
    )
    written += [population, vacancy]
    for name, data in (
        (JAWE_FILE, jawe_csv()),
        (MUNICIPAL_COUNTS_FILE, municipal_counts_csv()),
        (XPLAN_FILE, xplan_gml()),
    ):
        path = out_dir / name
        path.write_bytes(data)
        written.append(path)
    return written
