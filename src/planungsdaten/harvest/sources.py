"""Declarative source definitions (`harvesters/**/*.yaml`), validated on load.

A source is fetched once per run (protocol) and read in one format; each of its layers
maps to one canonical table. A definition with a single layer may say `target` and
`mapping` at the top level (and the layer name in `format.layer`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pyproj import CRS
from pyproj.exceptions import CRSError

from planungsdaten.harvest.errors import SourceDefinitionError
from planungsdaten.harvest.targets import TARGETS

LICENCE_PREFIX = "http://dcat-ap.de/def/licenses/"
# the target of a raster source: a COG file registered in raster_version, no table
RASTER_TARGET = "raster"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


class FileProtocol(_Strict):
    """A file on the local disk; relative paths are relative to the definition file."""

    type: Literal["file"]
    path: Path


class HttpProtocol(_Strict):
    """A file downloaded over HTTP(S) (conditional GET, retries, size limit)."""

    type: Literal["http"]
    url: str
    _check = field_validator("url")(_http_url)


class WfsProtocol(_Strict):
    """WFS 2.0 GetFeature, paged with STARTINDEX/COUNT; one layer per feature type."""

    type: Literal["wfs"]
    url: str
    type_names: list[str] = Field(min_length=1)
    page_size: int = Field(5000, ge=1, le=100_000)
    srs_name: str | None = None
    output_format: str | None = None
    _check = field_validator("url")(_http_url)


class OgcApiProtocol(_Strict):
    """OGC API Features, following `next` links."""

    type: Literal["ogcapi"]
    url: str
    collection: str
    limit: int = Field(1000, ge=1, le=100_000)
    crs: str | None = None
    _check = field_validator("url")(_http_url)


class AtomProtocol(_Strict):
    """INSPIRE pre-defined ATOM download service: service feed → dataset feed → files."""

    type: Literal["atom"]
    url: str
    dataset_id: str | None = None
    crs: str | None = None
    _check = field_validator("url")(_http_url)


Protocol = Annotated[
    FileProtocol | HttpProtocol | WfsProtocol | OgcApiProtocol | AtomProtocol,
    Field(discriminator="type"),
]


class Format(_Strict):
    """How the fetched file is read.

    Vector files (gpkg, shapefile, geojson, gml) go through GDAL; `nas` is ALKIS NAS XML
    and `xplan` XPlanGML or an XPlanArchiv (both parsed with lxml); `csv` has coordinates
    (`x`/`y`) or a WKT column; `zensus` are the destatis grid ZIPs; `jawe` the BASt
    annual results of automatic count stations; `geotiff` a GeoTIFF or Cloud-Optimized
    GeoTIFF (target `raster`, described by the source's `raster:` block).
    """

    type: Literal[
        "gpkg",
        "shapefile",
        "geojson",
        "gml",
        "nas",
        "csv",
        "xlsx",
        "xplan",
        "zensus",
        "jawe",
        "geotiff",
    ]
    layer: str | None = None
    member: str | None = Field(None, description="dataset inside a ZIP archive")
    where: str | None = Field(None, description="OGR SQL attribute filter, e.g. GF = 4")
    encoding: str | None = Field(None, description="attribute/CSV encoding if not detected")
    delimiter: str | None = Field(None, max_length=1, description="CSV; detected if unset")
    decimal: Literal[".", ","] = "."
    x: str | None = Field(None, description="CSV column with the x coordinate (easting)")
    y: str | None = Field(None, description="CSV column with the y coordinate (northing)")
    wkt: str | None = Field(None, description="CSV column with a WKT geometry")
    resolution_m: int | None = Field(None, gt=0, description="Zensus: grid size to read")
    extent_3035: tuple[float, float, float, float] | None = Field(
        None, description="Zensus: keep cells whose corner lies in this EPSG:3035 box"
    )
    year: int | None = Field(None, ge=1950, le=2100, description="BASt: count year")
    sheet: str | None = Field(None, description="XLSX: worksheet (default: the first)")
    header_row: int | None = Field(None, ge=1, description="XLSX: row of the column names")

    @model_validator(mode="after")
    def _csv_geometry(self) -> Format:
        if self.type == "csv" and not ((self.x and self.y) or self.wkt):
            raise ValueError("csv needs either `x` and `y` or `wkt` column names")
        if bool(self.x) != bool(self.y):
            raise ValueError("`x` and `y` go together")
        return self


class Filter(_Strict):
    """Records outside the service's area are skipped, not rejected."""

    ags_prefix: str | None = Field(None, pattern=r"^[0-9]{1,8}$")


class Layer(_Strict):
    """One layer of the source and the canonical table it loads."""

    layer: str | None = None
    target: str
    mapping: dict[str, str]
    constants: dict[str, str] = Field(
        default_factory=dict, description="fields with one value for every record"
    )

    @model_validator(mode="after")
    def _mapping_fits_target(self) -> Layer:
        if self.target == RASTER_TARGET:
            if self.mapping or self.constants:
                raise ValueError(
                    "target 'raster' takes no mapping or constants: its bands are described "
                    "in the source's raster: block"
                )
            return self
        target = TARGETS.get(self.target)
        if target is None:
            known = ", ".join(sorted([*TARGETS, RASTER_TARGET]))
            raise ValueError(f"target {self.target!r} unknown; known: {known}")
        target.check_mapping({**self.mapping, **self.constants})
        return self

    @property
    def name(self) -> str:
        """The layer's name for messages and the catalogue."""
        return self.layer or self.target


class RasterBand(_Strict):
    """What one band of a raster holds (band 1 first)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=63)
    description: str = Field(min_length=1)
    unit: str | None = Field(None, description="e.g. m, m/s, Personen; none for classes")


class RasterSpec(_Strict):
    """A raster source's layer: stored as a COG in EPSG:25832, served as OGC API Coverages."""

    layer: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=63,
        description="collection id under /ogc and file name in packages",
    )
    bands: list[RasterBand] = Field(min_length=1)
    nodata: float | None = Field(None, description="no-data value when the file has none")
    resolution_m: float | None = Field(
        None, gt=0, description="resample to this cell size; default: keep the source's"
    )
    resampling: Literal["nearest", "bilinear", "cubic", "average"] = Field(
        "nearest", description="for reprojection and resampling; classes need nearest"
    )

    @model_validator(mode="after")
    def _bands_distinct(self) -> RasterSpec:
        names = [band.name for band in self.bands]
        if len(set(names)) != len(names):
            raise ValueError("bands: the same band name appears twice")
        return self


class SourceDefinition(_Strict):
    """One source: what it is, where it comes from and how it maps to canonical tables."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=100)
    title: str = Field(min_length=1)
    description: str = ""
    publisher: str = Field(min_length=1)
    licence: str
    attribution: str = Field(min_length=1)
    access: Literal["open", "restricted"]
    protocol: Protocol
    format: Format
    crs: str | None = Field(None, description="CRS of the source when the file does not say")
    layers: list[Layer] = Field(min_length=1)
    raster: RasterSpec | None = Field(None, description="format geotiff: the raster layer")
    filter: Filter = Filter()
    schedule: str | None = None
    hvd_category: str | None = None
    enabled: bool = Field(True, description="harvested by `harvest --all`")
    path: Path | None = Field(None, exclude=True, description="file the definition came from")

    @model_validator(mode="before")
    @classmethod
    def _single_layer_shorthand(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and "layers" not in data
            and ("target" in data or "mapping" in data)
        ):
            data = dict(data)
            layer = {"target": data.pop("target", None), "mapping": data.pop("mapping", None)}
            if "constants" in data:
                layer["constants"] = data.pop("constants")
            fmt = data.get("format")
            if isinstance(fmt, dict) and fmt.get("layer"):
                layer["layer"] = fmt["layer"]
            raster = data.get("raster")
            if layer["target"] == RASTER_TARGET:
                # a raster has no mapping; its layer is named in the raster: block
                if layer["mapping"] is None:
                    layer["mapping"] = {}
                if isinstance(raster, dict) and isinstance(raster.get("layer"), str):
                    layer["layer"] = raster["layer"]
            data["layers"] = [layer]
        return data

    @field_validator("licence")
    @classmethod
    def _dcat_licence(cls, value: str) -> str:
        if not value.startswith(LICENCE_PREFIX) or value.endswith("/"):
            raise ValueError(
                f"must be a dcat-ap.de licence URI such as {LICENCE_PREFIX}dl-by-de/2.0 "
                "(no trailing slash)"
            )
        return value

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                CRS.from_user_input(value)
            except CRSError as e:
                raise ValueError(f"unknown CRS {value!r}") from e
        return value

    @field_validator("hvd_category")
    @classmethod
    def _hvd_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("http://data.europa.eu/bna/"):
            raise ValueError("must be an HVD category URI http://data.europa.eu/bna/c_…")
        return value

    @model_validator(mode="after")
    def _personal_data_restricted(self) -> SourceDefinition:
        if self.access != "restricted" and any(layer.target == "vacancy" for layer in self.layers):
            raise ValueError(
                "access: vacancy registers hold personal data and must be 'restricted'; "
                "only their aggregate per grid cell is published"
            )
        return self

    @model_validator(mode="after")
    def _raster_parts_together(self) -> SourceDefinition:
        rasters = [layer for layer in self.layers if layer.target == RASTER_TARGET]
        if self.format.type == "geotiff":
            if self.raster is None:
                raise ValueError("format geotiff needs a raster: block (layer, bands)")
            if len(self.layers) != 1 or not rasters:
                raise ValueError("format geotiff: the one target must be 'raster'")
            if rasters[0].layer != self.raster.layer:
                raise ValueError(
                    f"layer {rasters[0].layer!r} differs from raster.layer {self.raster.layer!r}"
                )
        else:
            if self.raster is not None:
                raise ValueError("a raster: block needs format type geotiff")
            if rasters:
                raise ValueError("target 'raster' needs format type geotiff")
        return self

    @model_validator(mode="after")
    def _layers_distinct(self) -> SourceDefinition:
        seen = [(layer.layer, layer.target) for layer in self.layers]
        if len(set(seen)) != len(seen):
            raise ValueError("layers: the same layer and target appear twice")
        return self

    @property
    def targets(self) -> list[str]:
        """Canonical tables this source loads."""
        return sorted({layer.target for layer in self.layers})

    def resolve(self, relative: Path) -> Path:
        """A path from the definition, relative to the definition file's folder."""
        if relative.is_absolute() or self.path is None:
            return relative
        return (self.path.parent / relative).resolve()


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid source definition"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


def load_source(path: Path) -> SourceDefinition:
    """Read and validate one YAML definition; errors name the file, the key and the problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise SourceDefinitionError(f"{path}: cannot read YAML: {e}") from e
    if not isinstance(raw, dict):
        raise SourceDefinitionError(f"{path}: expected a mapping of keys at the top level")
    try:
        return SourceDefinition.model_validate({**raw, "path": path.resolve()})
    except ValidationError as e:
        raise SourceDefinitionError(_format_errors(path, e)) from e


def load_sources(directory: Path) -> dict[str, SourceDefinition]:
    """Every definition below `directory`, by id; the same id twice is an error."""
    sources: dict[str, SourceDefinition] = {}
    for path in sorted(directory.rglob("*.yaml")):
        source = load_source(path)
        if source.id in sources:
            raise SourceDefinitionError(
                f"{path}: id {source.id!r} is already defined in {sources[source.id].path}"
            )
        sources[source.id] = source
    return sources
