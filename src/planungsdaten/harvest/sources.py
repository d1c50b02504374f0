"""Declarative source definitions (`harvesters/**/*.yaml`), validated on load."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from planungsdaten.harvest.errors import SourceDefinitionError
from planungsdaten.harvest.targets import TARGETS

LICENCE_PREFIX = "http://dcat-ap.de/def/licenses/"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileProtocol(_Strict):
    """A file on the local disk; relative paths are relative to the definition file."""

    type: Literal["file"]
    path: Path


class HttpProtocol(_Strict):
    """A file downloaded over HTTP(S)."""

    type: Literal["http"]
    url: str

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


Protocol = Annotated[FileProtocol | HttpProtocol, Field(discriminator="type")]


class VectorFormat(_Strict):
    """A vector file GDAL reads (GeoPackage, zipped Shapefile, GeoJSON, GML)."""

    type: Literal["gpkg", "shapefile", "geojson", "gml"]
    layer: str | None = None
    member: str | None = Field(None, description="path of the dataset inside a ZIP archive")
    where: str | None = Field(None, description="OGR SQL attribute filter, e.g. GF = 4")
    encoding: str | None = Field(None, description="attribute encoding when the file lacks it")


class Filter(_Strict):
    """Records outside the service's area are skipped, not rejected."""

    ags_prefix: str | None = Field(None, pattern=r"^[0-9]{1,8}$")


class SourceDefinition(_Strict):
    """One source: what it is, where it comes from and how it maps to a canonical table."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=100)
    title: str = Field(min_length=1)
    description: str = ""
    publisher: str = Field(min_length=1)
    licence: str
    attribution: str = Field(min_length=1)
    access: Literal["open", "restricted"]
    protocol: Protocol
    format: VectorFormat
    crs: str | None = Field(None, description="CRS of the source when the file does not say")
    target: str
    mapping: dict[str, str]
    filter: Filter = Filter()
    schedule: str | None = None
    hvd_category: str | None = None
    path: Path | None = Field(None, exclude=True, description="file the definition came from")

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
    def _mapping_fits_target(self) -> SourceDefinition:
        target = TARGETS.get(self.target)
        if target is None:
            raise ValueError(f"target {self.target!r} unknown; known: {', '.join(sorted(TARGETS))}")
        target.check_mapping(self.mapping)
        return self

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
