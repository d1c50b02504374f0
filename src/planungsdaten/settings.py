"""Settings, one class per concern; nothing else in the package reads the environment."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parents[2]


class AppSettings(BaseSettings):
    """Service-wide settings (`PLANUNGSDATEN_*`)."""

    model_config = SettingsConfigDict(env_prefix="PLANUNGSDATEN_", extra="ignore")

    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="URL under which clients reach the service; used in every link.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = PROJECT_DIR / ".data"
    harvesters_dir: Path = PROJECT_DIR / "harvesters"
    ogc_dir: Path = PROJECT_DIR / "ogc"
    log_level: str = "INFO"
    migrate_on_start: bool = Field(True, description="apply pending migrations at start-up")
    cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="origins browsers may call the API from (JSON list); [] switches CORS off",
    )
    ogc_reload_interval_s: float = Field(
        5.0, ge=0, description="how often /ogc checks the catalogue for new datasets"
    )

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")
        return value.rstrip("/")


class DatabaseSettings(BaseSettings):
    """Connection to PostGIS (`PLANUNGSDATEN_DATABASE_*`); unset URL means the managed cluster."""

    model_config = SettingsConfigDict(env_prefix="PLANUNGSDATEN_DATABASE_", extra="ignore")

    url: SecretStr | None = Field(
        None, description="postgresql://user:password@host:port/dbname of an existing PostGIS"
    )
    read_url: SecretStr | None = Field(
        None, description="optional read replica; reads fall back to `url`"
    )
    pool_size: int = Field(5, ge=1, le=100)
    statement_timeout_ms: int = Field(60_000, ge=0)


class ClusterSettings(BaseSettings):
    """The project-owned PostgreSQL cluster (`PLANUNGSDATEN_CLUSTER_*`)."""

    model_config = SettingsConfigDict(env_prefix="PLANUNGSDATEN_CLUSTER_", extra="ignore")

    data_dir: Path | None = Field(None, description="default: <data_dir>/postgres")
    pg_bindir: Path | None = Field(None, description="directory holding initdb and pg_ctl")
    port: int | None = Field(None, ge=1024, le=65535, description="default: a free port")
    database: str = "planungsdaten"
    user: str = "planungsdaten"
    start_timeout_s: int = Field(60, ge=5)


class HarvestSettings(BaseSettings):
    """Harvesting (`PLANUNGSDATEN_HARVEST_*`)."""

    model_config = SettingsConfigDict(env_prefix="PLANUNGSDATEN_HARVEST_", extra="ignore")

    batch_size: int = Field(20_000, ge=100, le=1_000_000)
    vacancy_min_count: int = Field(
        3, ge=2, description="vacancy aggregates: cells with fewer entries are not published"
    )
    address_similarity: float = Field(
        0.5, gt=0, le=1, description="least pg_trgm similarity of street names to match"
    )
    maintenance_work_mem: str = Field(
        "256MB", pattern=r"^[0-9]+(kB|MB|GB)$", description="for index builds during a swap"
    )
    max_download_bytes: int = Field(20 * 1024**3, ge=1024)
    http_timeout_s: float = Field(300.0, gt=0)
    http_total_timeout_s: float = Field(
        3600.0, gt=0, description="deadline for one download, all attempts included"
    )
    http_retries: int = Field(
        3, ge=0, le=20, description="further attempts after a transient failure (5xx, 429, network)"
    )
    http_backoff_s: float = Field(
        1.0, ge=0, description="wait before the first retry; doubles with every further one"
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="host names harvests may fetch from (exact, or *.example.org for its "
        "subdomains); empty: any public host. Env: a JSON list",
    )
    allow_private_networks: bool = Field(
        False,
        description="allow harvest URLs that resolve to loopback, link-local, private or "
        "reserved addresses (internal services, cloud metadata)",
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _normalise_hosts(cls, value: list[str]) -> list[str]:
        hosts = []
        for entry in value:
            host = entry.strip().lower().rstrip(".")
            name = host.removeprefix("*.")
            if not name or "*" in name or any(c in name for c in "/@ \t"):
                raise ValueError(f"allowed_hosts: {entry!r} is not a host name or *.suffix")
            hosts.append(host)
        return hosts


class PackageSettings(BaseSettings):
    """Planning packages and their workers (`PLANUNGSDATEN_PACKAGE_*`)."""

    model_config = SettingsConfigDict(env_prefix="PLANUNGSDATEN_PACKAGE_", extra="ignore")

    dir: Path | None = Field(
        None,
        description="where finished ZIPs are kept (shared by all workers); default "
        "<data_dir>/packages",
    )
    workers: int = Field(1, ge=0, le=32, description="in-process workers of the service")
    poll_interval_s: float = Field(0.5, gt=0, le=60)
    max_attempts: int = Field(3, ge=1, le=20, description="builds of one job before it fails")
    max_area_km2: float = Field(1000.0, gt=0, description="largest area a package may cover")
    max_vertices: int = Field(100_000, ge=4, description="most vertices of a drawn area")
    max_request_bytes: int = Field(10 * 1024**2, ge=1024, description="largest request body")
    traffic_radius_m: float = Field(
        1000.0, ge=0, description="count stations this close to the area count as near it"
    )


class AuthSettings(BaseSettings):
    """Who may see what (`PLANUNGSDATEN_AUTH_*`): API keys always work; OIDC bearer tokens
    when a JWKS is configured."""

    model_config = SettingsConfigDict(env_prefix="PLANUNGSDATEN_AUTH_", extra="ignore")

    oidc_jwks_url: str | None = Field(
        None, description="JWKS of the identity provider; unset: no OIDC tokens accepted"
    )
    oidc_issuer: str | None = Field(None, description="required `iss` of tokens")
    oidc_audience: str | None = Field(None, description="required `aud` of tokens")
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    oidc_ags_claim: str = Field(
        "ags", description="claim listing the AGS a planner is bound to (dotted path)"
    )
    oidc_roles_claim: str = Field(
        "realm_access.roles", description="claim listing the caller's roles (dotted path)"
    )
    oidc_operator_role: str = Field(
        "planungsdaten-operator", description="role that makes a token's caller an operator"
    )
    oidc_name_claim: str = "preferred_username"
    jwks_cache_s: int = Field(300, ge=0, description="how long fetched signing keys are kept")


class LimitSettings(BaseSettings):
    """Limits against overload and abuse (`PLANUNGSDATEN_LIMIT_*`)."""

    model_config = SettingsConfigDict(env_prefix="PLANUNGSDATEN_LIMIT_", extra="ignore")

    max_body_bytes: int = Field(
        11 * 1024**2, ge=1024, description="largest request body (uploads: max_upload_bytes)"
    )
    max_upload_bytes: int = Field(
        20 * 1024**2, ge=1024, description="largest uploaded area file (GeoJSON or ZIP)"
    )
    max_upload_expanded_bytes: int = Field(
        200 * 1024**2, ge=1024, description="largest unpacked size of an uploaded ZIP"
    )
    packages_per_hour_anonymous: int = Field(
        30, ge=0, description="package requests per client address and hour without a key"
    )
    packages_per_hour_planner: int = Field(
        300, ge=0, description="package requests per planner and hour (operators: no limit)"
    )
    max_coverage_cells: int = Field(
        16_000_000,
        ge=1024,
        description="raster cells (× bands) one /ogc coverage response may hold in GeoTIFF; "
        "CoverageJSON and HTML a sixteenth of it",
    )
    max_concurrent_requests: int = Field(
        200, ge=1, description="requests served at once; more get 503 at once instead of queuing"
    )
    keep_alive_timeout_s: int = Field(5, ge=1, description="idle keep-alive connections close")
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="proxies whose X-Forwarded-For is trusted (the client address for limits)",
    )


class CatalogSettings(BaseSettings):
    """The DCAT-AP.de/HVD catalogue at /catalog and its pages (`PLANUNGSDATEN_CATALOG_*`)."""

    # Operators set at least contact_email (usually also contact_name, publisher_name):
    # open-data portals show them as the contact point of every dataset.

    model_config = SettingsConfigDict(env_prefix="PLANUNGSDATEN_CATALOG_", extra="ignore")

    publisher_name: str = "Planungsdaten Sachsen-Anhalt (Interkommunaler Verbund)"
    publisher_uri: str | None = Field(
        None, description="IRI of the publishing body; default <public_url>/catalog#publisher"
    )
    publisher_type: str = Field(
        "http://purl.org/adms/publishertype/LocalAuthority",
        description="ADMS publisher type (http://purl.org/adms/publishertype/…)",
    )
    contact_name: str = "Open-Data-Kontakt Planungsdaten Sachsen-Anhalt"
    contact_email: str = Field(
        "opendata@example.org",
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="contact point of every dataset: operators must set a real mailbox",
    )
    contact_url: str | None = Field(None, description="optional contact form or page")
    contributor_id: str = Field(
        "http://dcat-ap.de/def/contributors/landSachsenAnhalt",
        description="dcatde:contributorID (http://dcat-ap.de/def/contributors/…)",
    )
    political_geocoding_level: str = "http://dcat-ap.de/def/politicalGeocoding/Level/state"
    political_geocoding_uri: str = Field(
        "http://dcat-ap.de/def/politicalGeocoding/stateKey/15",
        description="area the catalogue covers, published as dct:spatial",
    )
    page_size: int = Field(100, ge=1, description="datasets per catalogue page (Hydra paging)")
    availability_target_pct: float = Field(
        99.0, gt=0, le=100, description="availability target shown on the API page"
    )
    rate_limit: str = Field(
        "Keine feste Begrenzung der Anfragen. Bitte höchstens 10 gleichzeitige Anfragen je "
        "Nutzer; ganze Datensätze bitte über die Downloads statt seitenweise über die API laden.",
        description="usage limits shown on the API page (German)",
    )


@dataclass(frozen=True)
class Settings:
    """All settings of one process, passed explicitly to whoever needs them."""

    app: AppSettings = field(default_factory=lambda: AppSettings())
    database: DatabaseSettings = field(default_factory=lambda: DatabaseSettings())
    cluster: ClusterSettings = field(default_factory=lambda: ClusterSettings())
    harvest: HarvestSettings = field(default_factory=lambda: HarvestSettings())
    package: PackageSettings = field(default_factory=lambda: PackageSettings())
    catalog: CatalogSettings = field(default_factory=lambda: CatalogSettings())
    auth: AuthSettings = field(default_factory=lambda: AuthSettings())
    limit: LimitSettings = field(default_factory=lambda: LimitSettings())

    @property
    def cluster_dir(self) -> Path:
        return self.cluster.data_dir or self.app.data_dir / "postgres"

    @property
    def raw_dir(self) -> Path:
        return self.app.data_dir / "raw"

    @property
    def downloads_dir(self) -> Path:
        return self.app.data_dir / "downloads"

    @property
    def rasters_dir(self) -> Path:
        """Raster layers as COGs: `<source id>/<dataset version id>.tif`."""
        return self.app.data_dir / "rasters"

    @property
    def package_dir(self) -> Path:
        return self.package.dir or self.app.data_dir / "packages"

    def with_database_url(self, url: str) -> Settings:
        """A copy whose database URL points at `url` (e.g. the managed cluster)."""
        db = self.database.model_copy(update={"url": SecretStr(url)})
        return replace(self, database=db)
