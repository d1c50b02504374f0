"""Deterministic generator of the sample data: one sample municipality and its neighbours.

The sample area is Mücheln (Geiseltal) (AGS 15088235, Saalekreis) with seven neighbouring
municipalities. AGS, names and the positions of the municipal centres are real; the
boundaries are synthetic (Voronoi cells around the centres), so the files are small and
free of licence duties. Files are written in the real source formats:

- `VG250_GEM_Beispiel.gpkg`, layer `vg250_gem`: columns as in BKG VG250 (ADE, GF, ARS,
  AGS, GEN, BEZ), EPSG:25832.

A synthetic cadastre of Mücheln (`cadastre.py`: about 3,600 parcels, 4,200 buildings,
2,900 addresses, land use tiling a 5.5 km x 3.6 km area around the town):

- `ALKIS_NAS_Beispiel.xml`: ALKIS NAS, GeoInfoDok 7.1 `AX_Bestandsdatenauszug` with
  AX_Flurstueck, AX_Gebaeude, AX_LagebezeichnungMitHausnummer, AX_LagebezeichnungKatalogeintrag,
  AX_Gemarkung, AP_PTO (house numbers, about 90 % of the addresses) and the land-use objects.
- `ALKIS_vereinfacht_Beispiel.zip`: ALKIS-vereinfacht as Shapefiles `flurstueck`,
  `gebaeudebauwerk`, `nutzung` (UTF-8).
- `ALKIS_vereinfacht_Flurstueck.gml`: the parcels as a WFS 2.0 GetFeature response
  (`ave:Flurstueck`, GML 3.2).
- `Hauskoordinaten_Beispiel.csv`: the addresses as "Hauskoordinaten Deutschland" (HK-DE).

Planning data (`planning.py`):

- `Zensus2022_Bevoelkerungszahl.zip`, `Zensus2022_Leerstandsquote.zip`: destatis grid
  ZIPs (100 m and 1 km CSVs, ';', decimal comma, '–' suppressed, KLAMMERN flags).
- `Jawe2023.csv`: BASt annual results of four count stations (Latin-1, ~250 columns).
- `Verkehrszaehlung_Muecheln_2024.csv`: the town's own counting points (Windows-1252).
- `BPlan_Am_Geiseltalsee.gml`: one Bebauungsplan in XPlanGML 6.0.

The town's vacancy register (`vacancy.py`: 60 entries on addresses of the sample cadastre,
written by hand as municipal staff do):

- `Leerstandskataster_Muecheln.xlsx`: sheet "Leerstand", title in row 1, header in row 3.
- `Leerstand_Muecheln.csv`: the same register as an Excel CSV export (Windows-1252, ';',
  German dates and decimals) with Rechtswert/Hochwert for ten entries and one doubled row.

Terrain and flood hazard areas (`flood.py`, derived from one synthetic terrain):

- `DGM_Beispiel.tif`: terrain model, GeoTIFF, EPSG:25832, 10 m, float32.
- `Ueberschwemmungsgebiete_Beispiel.zip`: flood hazard areas HQ10/HQ100/HQ200 by water depth
  class and the river Geisel, zipped Shapefiles as the LHW publishes them.
- `Wassertiefe_HQ100_Beispiel.tif`: water depth of HQ100, GeoTIFF on the terrain's grid.

Run: `python sample_data/generate.py [OUT_DIR]` (default: this folder).
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely
from shapely.geometry import MultiPoint, Point, Polygon

if __package__ in (None, ""):  # run as a script: make the `sample_data` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sample_data import cadastre, flood, planning, vacancy

HERE = Path(__file__).resolve().parent
SAMPLE_AGS = "15088235"
BOUNDARIES_FILE = "VG250_GEM_Beispiel.gpkg"
NAS_FILE = "ALKIS_NAS_Beispiel.xml"
AVE_ZIP_FILE = "ALKIS_vereinfacht_Beispiel.zip"
AVE_GML_FILE = "ALKIS_vereinfacht_Flurstueck.gml"
ADDRESS_CSV_FILE = "Hauskoordinaten_Beispiel.csv"
VACANCY_XLSX_FILE = vacancy.VACANCY_XLSX_FILE  # "Leerstandskataster_Muecheln.xlsx"
VACANCY_CSV_FILE = vacancy.VACANCY_CSV_FILE  # "Leerstand_Muecheln.csv"

# AGS, name (GEN), BEZ, centre easting/northing in EPSG:25832 (rounded real centres)
MUNICIPALITIES: list[tuple[str, str, str, float, float]] = [
    ("15088020", "Bad Dürrenberg", "Stadt", 715_900, 5_686_000),
    ("15088025", "Bad Lauchstädt", "Stadt", 697_400, 5_696_000),
    ("15088065", "Braunsbedra", "Stadt", 701_900, 5_686_200),
    ("15088205", "Leuna", "Stadt", 715_200, 5_691_000),
    ("15088220", "Merseburg", "Stadt", 707_100, 5_692_400),
    ("15088235", "Mücheln (Geiseltal)", "Stadt", 693_900, 5_688_200),
    ("15088305", "Querfurt", "Stadt", 676_400, 5_691_700),
    ("15088330", "Schkopau", "Gemeinde", 711_600, 5_697_800),
]


def ars_from_ags(ags: str) -> str:
    """ARS of a municipality without Verband: Verband digits repeat the Gemeinde number."""
    return ags[:5] + "0" + ags[5:] + ags[5:]


def boundaries() -> gpd.GeoDataFrame:
    """Synthetic municipal boundaries: Voronoi cells of the centres, clipped to a hull."""
    centres = MultiPoint([Point(e, n) for _, _, _, e, n in MUNICIPALITIES])
    hull: Polygon = centres.convex_hull.buffer(6_000, quad_segs=4)
    cells = shapely.voronoi_polygons(centres, extend_to=hull)
    rows = []
    for ags, name, bez, e, n in MUNICIPALITIES:
        centre = Point(e, n)
        cell = next(c for c in cells.geoms if c.contains(centre))
        geom = shapely.set_precision(cell.intersection(hull), 0.01)
        rows.append(
            {
                "ADE": 6,
                "GF": 4,
                "ARS": ars_from_ags(ags),
                "AGS": ags,
                "GEN": name,
                "BEZ": bez,
                "geometry": shapely.geometry.MultiPolygon([geom]),
            }
        )
    return gpd.GeoDataFrame(rows, crs="EPSG:25832")


def generate(out_dir: Path = HERE) -> list[Path]:
    """Write every sample file to `out_dir`; the same code writes the same bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # GeoPackage stores a timestamp; pin it so that repeated runs give identical files
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2026-01-01T00:00:00.000Z"})
    path = out_dir / BOUNDARIES_FILE
    path.unlink(missing_ok=True)
    municipalities = boundaries()
    municipalities.to_file(path, layer="vg250_gem", driver="GPKG", engine="pyogrio")
    muecheln = municipalities.set_index("AGS").geometry[SAMPLE_AGS]
    sample_cadastre = cadastre.build_cadastre(muecheln)
    written = cadastre.write_cadastre(
        sample_cadastre,
        nas=out_dir / NAS_FILE,
        ave_zip=out_dir / AVE_ZIP_FILE,
        ave_gml=out_dir / AVE_GML_FILE,
        addresses_csv=out_dir / ADDRESS_CSV_FILE,
    )
    return [
        path,
        *written,
        *planning.generate_planning(out_dir),
        *vacancy.generate_vacancy(out_dir, sample_cadastre),
        *flood.generate_flood(out_dir),
    ]


if __name__ == "__main__":
    for written in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(written)
