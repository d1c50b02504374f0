"""The open-data catalogue: DCAT-AP.de 3.0 with the DCAT-AP HVD extension, built from the
published datasets, plus the German HTML pages that HVD requires for datasets and the API.

Every node has an IRI below the public URL (no blank nodes), so that the three
serialisations carry exactly the same triples and harvesters can merge pages."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from rdflib import RDF, RDFS, XSD, Graph, Namespace, URIRef
from rdflib import Literal as RdfLiteral
from rdflib.namespace import DCAT, DCTERMS, FOAF
from sqlalchemy import Connection

from planungsdaten.db.queries import query
from planungsdaten.errors import NotFoundError
from planungsdaten.formatting import format_number
from planungsdaten.licences import licence_page
from planungsdaten.publish.coverages import raster_description, raster_keywords
from planungsdaten.publish.ogc_config import COLLECTIONS, HVD, CollectionSpec
from planungsdaten.rasters.store import MEDIA_TYPE, RasterLayer, crs84_bounds, current_rasters
from planungsdaten.settings import CatalogSettings
from planungsdaten.templating import environment

DCATAP = Namespace("http://data.europa.eu/r5r/")
DCATDE = Namespace("http://dcat-ap.de/def/dcatde/")
ELI = Namespace("http://data.europa.eu/eli/ontology#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")

EU = "http://publications.europa.eu/resource/authority/"
HVD_LEGISLATION = URIRef("http://data.europa.eu/eli/reg_impl/2023/138/oj")
OGC_API_FEATURES = URIRef("http://www.opengis.net/spec/ogcapi-features-1/1.0")
OGC_API_COVERAGES = URIRef("http://www.opengis.net/spec/ogcapi-coverages-1/1.0")
OGC_COG = URIRef("http://www.opengis.net/doc/IS/COG/1.0")
LANGUAGE = URIRef(EU + "language/DEU")
PUBLIC_ACCESS = URIRef(EU + "access-right/PUBLIC")
# harvests follow the sources, which change when their publishers update them
FREQUENCY = URIRef(EU + "frequency/IRREG")
# the metadata itself is free of any condition
METADATA_LICENCE = "http://dcat-ap.de/def/licenses/dl-zero-de/2.0"

HVD_CATEGORY_LABELS = {
    HVD + "c_ac64a52d": "Georaum",
    HVD + "c_6a3f6896": "Flurstücke/Grundstücke (Katasterparzellen)",
    HVD + "c_60182062": "Gebäude",
    HVD + "c_9427236f": "Verwaltungseinheiten",
    HVD + "c_c3de25e4": "Adressen",
    HVD + "c_6c2bb82d": "Geografische Bezeichnungen",
    HVD + "c_b79e35eb": "Mobilität",
}

RdfFormat = Literal["ttl", "rdf", "jsonld"]
# short name → (media type, rdflib serialiser)
RDF_FORMATS: dict[str, tuple[str, str]] = {
    "ttl": ("text/turtle", "turtle"),
    "rdf": ("application/rdf+xml", "xml"),
    "jsonld": ("application/ld+json", "json-ld"),
}


@dataclass(frozen=True)
class Download:
    """A bulk-download format of every published dataset (served under /downloads)."""

    suffix: str
    label: str
    file_type: str
    media_type: str


DOWNLOADS = (
    Download("gpkg", "GeoPackage", "GPKG", "application/geopackage+sqlite3"),
    Download("geojson", "GeoJSON", "GEOJSON", "application/geo+json"),
    Download("csv", "CSV", "CSV", "text/csv"),
)
# a raster's file: the stored COG (IANA registers image/tiff; the profile is in the title)
COG_DOWNLOAD = Download("tif", "Cloud-Optimized GeoTIFF", "GEOTIFF", "image/tiff")


class DatasetNotPublishedError(NotFoundError):
    """No open dataset with this collection id has a current version."""

    def __init__(self, collection_id: str) -> None:
        super().__init__(
            f"Kein veröffentlichter Datensatz mit der Kennung '{collection_id}'. "
            "Der Katalog unter /catalog listet alle offenen Datensätze."
        )
        self.collection_id = collection_id


class CatalogPageNotFoundError(NotFoundError):
    """A catalogue page beyond the last one was requested."""

    def __init__(self, page: int, pages: int) -> None:
        super().__init__(
            f"Die Katalogseite {page} gibt es nicht; der Katalog hat {pages} Seite(n)."
        )


@dataclass(frozen=True)
class PublishedDataset:
    """An open canonical table with a current version, as the catalogue describes it."""

    spec: CollectionSpec
    licences: tuple[str, ...]
    attributions: tuple[str, ...]
    feature_count: int
    published_at: datetime | None
    bbox: tuple[float, float, float, float]
    raster: RasterLayer | None = None  # a raster layer: COG and OGC API Coverages

    @property
    def licence(self) -> str:
        """The one licence a distribution may name: the most restrictive of the sources'."""
        return max(self.licences, key=lambda uri: (_restriction(uri), uri))

    @property
    def attribution(self) -> str:
        """Attribution text covering every contributing source."""
        return "; ".join(self.attributions)


def _stamp(value: datetime) -> str:
    """ISO 8601 to the second: finer is noise in metadata."""
    return value.replace(microsecond=0).isoformat()


def _datetime(value: datetime) -> RdfLiteral:
    return RdfLiteral(_stamp(value), datatype=XSD.dateTime)


def _restriction(licence: str) -> int:
    """Rank of a dcat-ap.de licence: 0 no conditions, 1 attribution, 2 more, 3 unknown."""
    name = licence.rsplit("/licenses/", 1)[-1]
    if "zero" in name:
        return 0
    if name.startswith(("dl-by-de/", "cc-by/")):
        return 1
    if name.startswith(("cc-by-", "dl-by-nc")):
        return 2
    return 3


@dataclass(frozen=True)
class CatalogUrls:
    """Every URL the catalogue publishes, derived from the public URL."""

    public_url: str

    @property
    def catalog(self) -> str:
        return f"{self.public_url}/catalog"

    @property
    def api_page(self) -> str:
        return f"{self.public_url}/catalog/api"

    @property
    def ogc(self) -> str:
        return f"{self.public_url}/ogc"

    @property
    def openapi(self) -> str:
        return f"{self.public_url}/ogc/openapi?f=json"

    def dataset(self, collection_id: str) -> str:
        return f"{self.public_url}/catalog/datasets/{collection_id}"

    def collection(self, collection_id: str) -> str:
        return f"{self.public_url}/ogc/collections/{collection_id}"

    def download(self, collection_id: str, suffix: str) -> str:
        return f"{self.public_url}/downloads/{collection_id}.{suffix}"

    def raster_download(self, layer: str) -> str:
        return f"{self.public_url}/downloads/rasters/{layer}.tif"

    def coverage(self, layer: str) -> str:
        return f"{self.public_url}/ogc/collections/{layer}/coverage"


def published_datasets(conn: Connection) -> list[PublishedDataset]:
    """The open datasets with a current version that /ogc serves, in table order."""
    datasets = []
    for row in conn.execute(query("published_datasets")):
        spec = COLLECTIONS.get(row.target_table)
        if spec is None or row.xmin is None:
            continue  # not a collection of /ogc, or nothing with a geometry yet
        datasets.append(
            PublishedDataset(
                spec=spec,
                licences=tuple(sorted(row.licences)),
                attributions=tuple(sorted(row.attributions)),
                feature_count=int(row.feature_count or 0),
                published_at=row.published_at,
                bbox=(row.xmin, row.ymin, row.xmax, row.ymax),
            )
        )
    return datasets


def published_rasters(conn: Connection) -> list[PublishedDataset]:
    """The open raster layers with a current version (OGC API Coverages), by layer."""
    datasets = []
    # the files' location does not matter here: the catalogue links to their URLs
    for raster in current_rasters(conn, Path(), access="open"):
        datasets.append(
            PublishedDataset(
                spec=CollectionSpec(
                    collection_id=raster.layer,
                    title=raster.title,
                    description=raster_description(raster),
                    keywords=tuple(raster_keywords(raster)),
                    id_field="",
                    table="",
                    hvd_category=raster.hvd_category,
                    themes=("REGI", "ENVI"),
                ),
                licences=(raster.licence,),
                attributions=(raster.attribution,),
                feature_count=raster.width * raster.height,
                published_at=raster.published_at,
                bbox=crs84_bounds(raster.footprint),
                raster=raster,
            )
        )
    return datasets


def catalogue_datasets(conn: Connection) -> list[PublishedDataset]:
    """Everything the catalogue lists: the open datasets of /ogc, then the open rasters (a
    raster whose layer name a vector collection already uses is not served, so not listed)."""
    datasets = published_datasets(conn)
    taken = {d.spec.collection_id for d in datasets}
    return datasets + [r for r in published_rasters(conn) if r.spec.collection_id not in taken]


def find_dataset(datasets: Iterable[PublishedDataset], collection_id: str) -> PublishedDataset:
    """The published dataset with this collection id, or DatasetNotPublishedError."""
    for dataset in datasets:
        if dataset.spec.collection_id == collection_id:
            return dataset
    raise DatasetNotPublishedError(collection_id)


def page_count(total: int, page_size: int) -> int:
    """Number of catalogue pages (at least one, even when empty)."""
    return max(1, math.ceil(total / page_size))


def page_url(base: str, page: int) -> str:
    """`base` with the page parameter set."""
    return f"{base}{'&' if '?' in base else '?'}page={page}"


class _Builder:
    """Adds the catalogue's resources to one graph."""

    def __init__(self, settings: CatalogSettings, public_url: str) -> None:
        self.settings = settings
        self.urls = CatalogUrls(public_url)
        self.graph = Graph(bind_namespaces="core")
        for prefix, namespace in (
            ("dcat", DCAT),
            ("dct", DCTERMS),
            ("dcatap", DCATAP),
            ("dcatde", DCATDE),
            ("foaf", FOAF),
            ("vcard", VCARD),
            ("eli", ELI),
            ("gsp", GSP),
            ("hydra", HYDRA),
        ):
            self.graph.bind(prefix, namespace)
        self.publisher = URIRef(settings.publisher_uri or f"{self.urls.catalog}#publisher")
        self.contact = URIRef(f"{self.urls.catalog}#contact")
        self.service = URIRef(self.urls.api_page)
        self.region = URIRef(settings.political_geocoding_uri)

    def add(self, subject: URIRef, *pairs: tuple[URIRef, Any]) -> None:
        for predicate, obj in pairs:
            self.graph.add((subject, predicate, obj))

    def typed(self, uri: str, *classes: URIRef) -> URIRef:
        node = URIRef(uri)
        for cls in classes:
            self.graph.add((node, RDF.type, cls))
        return node

    def de(self, text: str) -> RdfLiteral:
        return RdfLiteral(text, lang="de")

    def common(self) -> None:
        """Publisher, contact point and the shared concepts, typed as the shapes expect."""
        s = self.settings
        self.add(
            self.publisher,
            (RDF.type, FOAF.Agent),
            (FOAF.name, self.de(s.publisher_name)),
            (DCTERMS.type, URIRef(s.publisher_type)),
        )
        self.add(
            self.contact,
            (RDF.type, VCARD.Organization),
            (RDF.type, VCARD.Kind),
            (VCARD.fn, RdfLiteral(s.contact_name)),
            (VCARD.hasEmail, URIRef(f"mailto:{s.contact_email}")),
        )
        if s.contact_url:
            self.add(self.contact, (VCARD.hasURL, URIRef(s.contact_url)))
        self.typed(s.political_geocoding_uri, DCTERMS.Location)
        self.typed(str(LANGUAGE), DCTERMS.LinguisticSystem)
        self.typed(str(FREQUENCY), DCTERMS.Frequency)
        self.typed(str(PUBLIC_ACCESS), DCTERMS.RightsStatement)

    def licence(self, uri: str) -> URIRef:
        node = self.typed(uri, DCTERMS.LicenseDocument)
        known = licence_page(uri)
        if known:
            title, href = known
            self.add(node, (DCTERMS.title, self.de(title)), (RDFS.seeAlso, URIRef(href)))
        return node

    def legislation(self) -> URIRef:
        return self.typed(str(HVD_LEGISLATION), ELI.LegalResource)

    def hvd(self, node: URIRef, category: str | None) -> None:
        """The HVD properties: applicable legislation and, where given, the category."""
        self.add(node, (DCATAP.applicableLegislation, self.legislation()))
        if category is not None:
            self.add(node, (DCATAP.hvdCategory, URIRef(category)))

    def document(self, url: str) -> URIRef:
        return self.typed(url, FOAF.Document)

    def dataset(self, dataset: PublishedDataset) -> URIRef:
        spec, urls = dataset.spec, self.urls
        uri = urls.dataset(spec.collection_id)
        node = self.typed(uri, DCAT.Dataset)
        self.add(
            node,
            (DCTERMS.identifier, RdfLiteral(uri)),
            (DCTERMS.title, self.de(spec.title)),
            (DCTERMS.description, self.de(f"{spec.description} Quellen: {dataset.attribution}.")),
            (DCTERMS.publisher, self.publisher),
            (DCAT.contactPoint, self.contact),
            (DCTERMS.language, LANGUAGE),
            (DCTERMS.accessRights, PUBLIC_ACCESS),
            (DCTERMS.accrualPeriodicity, FREQUENCY),
            (DCAT.landingPage, self.document(uri)),
            (DCATDE.contributorID, URIRef(self.settings.contributor_id)),
            (DCATDE.politicalGeocodingLevelURI, URIRef(self.settings.political_geocoding_level)),
            (DCTERMS.spatial, self.region),
            (DCTERMS.spatial, self.bbox(uri, dataset.bbox)),
        )
        for keyword in spec.keywords:
            self.add(node, (DCAT.keyword, self.de(keyword)))
        for theme in spec.themes:
            self.add(node, (DCAT.theme, URIRef(f"{EU}data-theme/{theme}")))
        if dataset.published_at is not None:
            stamp = _datetime(dataset.published_at)
            period = self.typed(f"{uri}#zeitraum", DCTERMS.PeriodOfTime)
            self.add(
                period,
                (
                    DCAT.endDate,
                    RdfLiteral(dataset.published_at.date().isoformat(), datatype=XSD.date),
                ),
            )
            self.add(
                node, (DCTERMS.issued, stamp), (DCTERMS.modified, stamp), (DCTERMS.temporal, period)
            )
        if spec.hvd_category is not None:
            self.hvd(node, spec.hvd_category)
        if dataset.raster is not None:
            self.add(node, (DCAT.spatialResolutionInMeters, _metres(dataset.raster)))
            self.add(node, (DCAT.distribution, self.raster_file(dataset, dataset.raster)))
            self.add(node, (DCAT.distribution, self.coverage_api(dataset, dataset.raster)))
        else:
            for download in DOWNLOADS:
                self.add(node, (DCAT.distribution, self.download(dataset, download)))
            self.add(node, (DCAT.distribution, self.api_distribution(dataset)))
        self.add(self.service, (DCAT.servesDataset, node))
        return node

    def raster_file(self, dataset: PublishedDataset, raster: RasterLayer) -> URIRef:
        """The stored COG as a download (byte ranges: clients read only the part they need)."""
        url = URIRef(self.urls.raster_download(raster.layer))
        node = URIRef(f"{self.urls.dataset(raster.layer)}#cog")
        file_type, media_type = self.media(COG_DOWNLOAD)
        self.distribution_common(node, dataset)
        self.add(
            node,
            (DCTERMS.title, self.de(f"{raster.title} als Cloud-Optimized GeoTIFF (Gesamtdatei)")),
            (
                DCTERMS.description,
                self.de(
                    f"Cloud-Optimized GeoTIFF ({MEDIA_TYPE}) in EPSG:25832, gekachelt und "
                    "komprimiert, mit Übersichten; Ausschnitte lassen sich über HTTP-Range-"
                    "Anfragen direkt lesen (z. B. GDAL /vsicurl/, QGIS)."
                ),
            ),
            (DCAT.accessURL, url),
            (DCAT.downloadURL, url),
            (DCTERMS.format, file_type),
            (DCAT.mediaType, media_type),
            (DCAT.byteSize, RdfLiteral(raster.size_bytes, datatype=XSD.nonNegativeInteger)),
            (DCAT.spatialResolutionInMeters, _metres(raster)),
            (DCTERMS.conformsTo, self.named_standard(OGC_COG, "OGC Cloud Optimized GeoTIFF")),
        )
        return node

    def coverage_api(self, dataset: PublishedDataset, raster: RasterLayer) -> URIRef:
        """The raster through OGC API Coverages (subsets by bbox, GeoTIFF or CoverageJSON)."""
        node = URIRef(f"{self.urls.dataset(raster.layer)}#api")
        file_type, media_type = self.media(COG_DOWNLOAD)
        self.distribution_common(node, dataset)
        self.add(
            node,
            (DCTERMS.title, self.de(f"{raster.title} über OGC API Coverages")),
            (
                DCTERMS.description,
                self.de(
                    "Ausschnitte des Rasters nach bbox oder subset, als GeoTIFF (f=GTiff) oder "
                    "CoverageJSON (f=json); Koordinaten der bbox in CRS84 oder mit bbox-crs."
                ),
            ),
            (DCAT.accessURL, URIRef(self.urls.coverage(raster.layer))),
            (DCAT.accessService, self.service),
            (
                DCTERMS.conformsTo,
                self.named_standard(OGC_API_COVERAGES, "OGC API - Coverages - Part 1: Core"),
            ),
            (DCTERMS.format, file_type),
            (DCAT.mediaType, media_type),
            (DCAT.spatialResolutionInMeters, _metres(raster)),
        )
        return node

    def named_standard(self, uri: URIRef, title: str) -> URIRef:
        node = self.typed(str(uri), DCTERMS.Standard)
        self.add(node, (DCTERMS.title, RdfLiteral(title, lang="en")))
        return node

    def bbox(self, dataset_uri: str, bbox: tuple[float, float, float, float]) -> URIRef:
        # rounded outwards, so that the box still covers the data
        west, south = (math.floor(v * 1e6) / 1e6 for v in bbox[:2])
        east, north = (math.ceil(v * 1e6) / 1e6 for v in bbox[2:])
        wkt = (
            f"POLYGON(({west} {south}, {east} {south}, {east} {north}, "
            f"{west} {north}, {west} {south}))"
        )
        location = self.typed(f"{dataset_uri}#ausdehnung", DCTERMS.Location)
        self.add(location, (DCAT.bbox, RdfLiteral(wkt, datatype=GSP.wktLiteral)))
        return location

    def distribution_common(self, node: URIRef, dataset: PublishedDataset) -> None:
        self.add(
            node,
            (RDF.type, DCAT.Distribution),
            (DCTERMS.license, self.licence(dataset.licence)),
            (DCATDE.licenseAttributionByText, self.de(dataset.attribution)),
        )
        if len(dataset.licences) > 1:
            rights = self.typed(f"{node}-rechte", DCTERMS.RightsStatement)
            self.add(
                rights,
                (
                    RDFS.label,
                    self.de(
                        "Zusammengeführt aus Quellen mit den Lizenzen "
                        + ", ".join(dataset.licences)
                        + "; für jeden Teil gilt die Lizenz seiner Quelle."
                    ),
                ),
            )
            self.add(node, (DCTERMS.rights, rights))
        if dataset.published_at is not None:
            self.add(
                node,
                (
                    DCTERMS.modified,
                    _datetime(dataset.published_at),
                ),
            )
        if dataset.spec.hvd_category is not None:
            self.hvd(node, None)

    def media(self, download: Download) -> tuple[URIRef, URIRef]:
        file_type = self.typed(f"{EU}file-type/{download.file_type}", DCTERMS.MediaTypeOrExtent)
        media_type = self.typed(
            f"https://www.iana.org/assignments/media-types/{download.media_type}",
            DCTERMS.MediaType,
        )
        return file_type, media_type

    def download(self, dataset: PublishedDataset, download: Download) -> URIRef:
        spec = dataset.spec
        url = URIRef(self.urls.download(spec.collection_id, download.suffix))
        node = URIRef(f"{self.urls.dataset(spec.collection_id)}#{download.suffix}")
        file_type, media_type = self.media(download)
        self.distribution_common(node, dataset)
        self.add(
            node,
            (DCTERMS.title, self.de(f"{spec.title} als {download.label} (Gesamtdatei)")),
            (DCAT.accessURL, url),
            (DCAT.downloadURL, url),
            (DCTERMS.format, file_type),
            (DCAT.mediaType, media_type),
        )
        return node

    def api_distribution(self, dataset: PublishedDataset) -> URIRef:
        spec = dataset.spec
        node = URIRef(f"{self.urls.dataset(spec.collection_id)}#api")
        file_type, media_type = self.media(DOWNLOADS[1])
        self.distribution_common(node, dataset)
        self.add(
            node,
            (DCTERMS.title, self.de(f"{spec.title} über OGC API Features")),
            (
                DCTERMS.description,
                self.de(
                    "Abfrage einzelner Objekte, Ausschnitte und Filter (CQL2) in GeoJSON und "
                    "weiteren Formaten; Koordinatensysteme CRS84, EPSG:4326, 25832, 25833, 3035."
                ),
            ),
            (DCAT.accessURL, URIRef(self.urls.collection(spec.collection_id))),
            (DCAT.accessService, self.service),
            (DCTERMS.conformsTo, self.standard()),
            (DCTERMS.format, file_type),
            (DCAT.mediaType, media_type),
        )
        return node

    def standard(self) -> URIRef:
        node = self.typed(str(OGC_API_FEATURES), DCTERMS.Standard)
        self.add(node, (DCTERMS.title, RdfLiteral("OGC API - Features - Part 1: Core", lang="en")))
        return node

    def data_service(self, datasets: Sequence[PublishedDataset]) -> URIRef:
        """The OGC API; licence and HVD properties from all datasets, not only one page's."""
        urls = self.urls
        node = self.typed(str(self.service), DCAT.DataService)
        self.add(
            node,
            (DCTERMS.identifier, RdfLiteral(str(self.service))),
            (DCTERMS.title, self.de("OGC API Features der Planungsdaten Sachsen-Anhalt")),
            (
                DCTERMS.description,
                self.de(
                    "Schnittstelle nach OGC API Features (Teil 1 und 2) für alle offenen "
                    "Datensätze des Katalogs: Objekte abfragen, nach Ausschnitt und Attributen "
                    "filtern, in mehreren Koordinatensystemen ausgeben."
                ),
            ),
            (DCAT.endpointURL, URIRef(urls.ogc)),
            (DCAT.endpointDescription, URIRef(urls.openapi)),
            (DCTERMS.conformsTo, self.standard()),
            (FOAF.page, self.document(urls.api_page)),
            (DCAT.landingPage, self.document(urls.api_page)),
            (DCTERMS.publisher, self.publisher),
            (DCAT.contactPoint, self.contact),
            (DCTERMS.accessRights, PUBLIC_ACCESS),
            (DCAT.keyword, self.de("OGC API Features")),
            (DCAT.keyword, self.de("Geodaten")),
        )
        if any(d.raster is not None for d in datasets):
            self.add(
                node,
                (
                    DCTERMS.conformsTo,
                    self.named_standard(OGC_API_COVERAGES, "OGC API - Coverages - Part 1: Core"),
                ),
                (DCAT.keyword, self.de("OGC API Coverages")),
            )
        licences = {d.licence for d in datasets}
        if len(licences) == 1:
            self.add(node, (DCTERMS.license, self.licence(licences.pop())))
        rights = self.typed(f"{urls.api_page}#nutzungsbedingungen", DCTERMS.RightsStatement)
        self.add(
            rights,
            (
                RDFS.label,
                self.de(
                    "Für die abgerufenen Daten gelten die Lizenzen und Namensnennungen der "
                    "einzelnen Datensätze; siehe " + urls.api_page + "."
                ),
            ),
        )
        self.add(node, (DCTERMS.rights, rights))
        categories = sorted({d.spec.hvd_category for d in datasets if d.spec.hvd_category})
        if categories:
            self.hvd(node, None)
            for category in categories:
                self.add(node, (DCATAP.hvdCategory, URIRef(category)))
        return node

    def catalog(self, datasets: Sequence[PublishedDataset]) -> URIRef:
        urls = self.urls
        node = self.typed(urls.catalog, DCAT.Catalog)
        self.add(
            node,
            (DCTERMS.title, self.de("Planungsdaten Sachsen-Anhalt – offene Daten")),
            (
                DCTERMS.description,
                self.de(
                    "Offene Planungsdaten der Gemeinden Sachsen-Anhalts (Liegenschaftskataster, "
                    "Gemeindegrenzen, Zensus, Verkehr, Bauleitplanung) als Gesamtdateien und "
                    "über OGC API Features, mit den hochwertigen Datensätzen nach "
                    "Durchführungsverordnung (EU) 2023/138."
                ),
            ),
            (DCTERMS.publisher, self.publisher),
            (DCTERMS.language, LANGUAGE),
            (DCTERMS.license, self.licence(METADATA_LICENCE)),
            (FOAF.homepage, self.document(f"{urls.public_url}/")),
            (DCTERMS.spatial, self.region),
            (DCAT.service, self.service),
        )
        stamps = [d.published_at for d in datasets if d.published_at is not None]
        if stamps:
            modified = _datetime(max(stamps))
            self.add(node, (DCTERMS.modified, modified))
        return node


def build_catalog(
    datasets: Sequence[PublishedDataset],
    settings: CatalogSettings,
    public_url: str,
    page: int = 1,
    view_base: str | None = None,
) -> Graph:
    """The catalogue, or page `page` of it, as a graph; Hydra links are built on `view_base`."""
    pages = page_count(len(datasets), settings.page_size)
    if not 1 <= page <= pages:
        raise CatalogPageNotFoundError(page, pages)
    builder = _Builder(settings, public_url)
    builder.common()
    catalog = builder.catalog(datasets)
    builder.data_service(datasets)
    start = (page - 1) * settings.page_size
    for dataset in datasets[start : start + settings.page_size]:
        builder.graph.add((catalog, DCAT.dataset, builder.dataset(dataset)))
    if len(datasets) > settings.page_size:
        _hydra_view(builder, page, pages, len(datasets), view_base or builder.urls.catalog)
    return builder.graph


def _hydra_view(builder: _Builder, page: int, pages: int, total: int, base: str) -> None:
    view = URIRef(page_url(base, page))
    builder.add(
        view,
        (RDF.type, HYDRA.PartialCollectionView),
        (HYDRA.first, URIRef(page_url(base, 1))),
        (HYDRA.last, URIRef(page_url(base, pages))),
        (HYDRA.totalItems, RdfLiteral(total)),
        (HYDRA.itemsPerPage, RdfLiteral(builder.settings.page_size)),
    )
    if page > 1:
        builder.add(view, (HYDRA.previous, URIRef(page_url(base, page - 1))))
    if page < pages:
        builder.add(view, (HYDRA.next, URIRef(page_url(base, page + 1))))
    builder.add(URIRef(builder.urls.catalog), (HYDRA.view, view))


def build_dataset_record(
    datasets: Sequence[PublishedDataset],
    collection_id: str,
    settings: CatalogSettings,
    public_url: str,
) -> Graph:
    """One dataset with its distributions, the data service and the agents they refer to."""
    dataset = find_dataset(datasets, collection_id)
    builder = _Builder(settings, public_url)
    builder.common()
    builder.data_service(datasets)
    builder.dataset(dataset)
    return builder.graph


def serialize(graph: Graph, fmt: str) -> bytes:
    """`graph` in one of RDF_FORMATS (ttl, rdf, jsonld), UTF-8."""
    _, rdflib_format = RDF_FORMATS[fmt]
    if rdflib_format == "json-ld":
        context = {prefix: str(ns) for prefix, ns in graph.namespaces() if prefix}
        return graph.serialize(format="json-ld", context=context, encoding="utf-8")
    return graph.serialize(format=rdflib_format, encoding="utf-8")


def negotiate(accept: str | None, offers: Sequence[str], default: str) -> str:
    """The offer the Accept header prefers (`*/*` and no match mean `default`)."""
    best, best_key = default, (0.0, 0, 0)
    for position, part in enumerate((accept or "").split(",")):
        media, *params = (p.strip().lower() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        for offer in offers:
            if media == offer:
                specificity = 2
            elif media.endswith("/*") and media != "*/*" and offer.startswith(media[:-1]):
                specificity = 1
            elif media == "*/*" and offer == default:
                specificity = 0
            else:
                continue
            candidate = (q, specificity, -position)
            if candidate > best_key:
                best, best_key = offer, candidate
    return best


def format_for_media_type(media_type: str) -> str:
    """The short format name (ttl, rdf, jsonld) of an RDF media type."""
    for name, (media, _) in RDF_FORMATS.items():
        if media == media_type:
            return name
    raise KeyError(media_type)


# --- HTML pages ------------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


def _german_datetime(value: datetime | None) -> str:
    if value is None:
        return "unbekannt"
    return value.astimezone(BERLIN).strftime("%d.%m.%Y, %H:%M Uhr")


def _licence_view(uri: str) -> dict[str, str]:
    title, href = licence_page(uri) or (uri, uri)
    return {"uri": uri, "title": title, "href": href}


def _metres(raster: RasterLayer) -> RdfLiteral:
    return RdfLiteral(f"{raster.resolution_m:g}", datatype=XSD.decimal)


def dataset_links(dataset: PublishedDataset, urls: CatalogUrls) -> dict[str, Any]:
    """The links of a dataset for HTML pages: its downloads, API and what the API offers."""
    cid = dataset.spec.collection_id
    if dataset.raster is not None:
        return {
            "downloads": [
                {
                    "label": COG_DOWNLOAD.label,
                    "href": urls.raster_download(cid),
                    "media_type": MEDIA_TYPE,
                }
            ],
            "api_label": "OGC API Coverages",
            "items_url": urls.coverage(cid),
            "items_label": "Ausschnitte des Rasters abfragen",
            "count_label": "Anzahl Rasterzellen",
        }
    return {
        "downloads": [
            {"label": d.label, "href": urls.download(cid, d.suffix), "media_type": d.media_type}
            for d in DOWNLOADS
        ],
        "api_label": "OGC API Features",
        "items_url": f"{urls.collection(cid)}/items",
        "items_label": "Objekte der Sammlung abfragen",
        "count_label": "Anzahl Objekte",
    }


def _dataset_view(dataset: PublishedDataset, urls: CatalogUrls) -> dict[str, Any]:
    spec = dataset.spec
    cid = spec.collection_id
    category = spec.hvd_category
    west, south, east, north = dataset.bbox
    return {
        **dataset_links(dataset, urls),
        "id": cid,
        "title": spec.title,
        "description": spec.description,
        "keywords": spec.keywords,
        "url": urls.dataset(cid),
        "licences": [_licence_view(uri) for uri in dataset.licences],
        "attribution": dataset.attribution,
        "updated": _german_datetime(dataset.published_at),
        "updated_iso": _stamp(dataset.published_at) if dataset.published_at else "",
        "feature_count": format_number(dataset.feature_count, 0),
        "bbox": ", ".join(format_number(v, 4) for v in (west, south, east, north)),
        "hvd_category": HVD_CATEGORY_LABELS.get(category, category) if category else None,
        "collection": urls.collection(cid),
        "records": [
            {"label": label, "href": f"{urls.dataset(cid)}?f={fmt}", "media_type": media}
            for fmt, label, media in (
                ("ttl", "Turtle", RDF_FORMATS["ttl"][0]),
                ("rdf", "RDF/XML", RDF_FORMATS["rdf"][0]),
                ("jsonld", "JSON-LD", RDF_FORMATS["jsonld"][0]),
            )
        ],
    }


def _common_view(settings: CatalogSettings, public_url: str) -> dict[str, Any]:
    urls = CatalogUrls(public_url)
    return {
        "publisher": settings.publisher_name,
        "contact": {
            "name": settings.contact_name,
            "email": settings.contact_email,
            "url": settings.contact_url,
        },
        "urls": {
            "home": f"{public_url}/",
            "catalog": urls.catalog,
            "api_page": urls.api_page,
            "ogc": urls.ogc,
            "openapi": f"{urls.ogc}/openapi",
            "docs": f"{public_url}/docs",
        },
        "legislation": str(HVD_LEGISLATION),
        "metadata_licence": _licence_view(METADATA_LICENCE),
    }


def render_dataset_page(
    datasets: Sequence[PublishedDataset],
    collection_id: str,
    settings: CatalogSettings,
    public_url: str,
) -> str:
    """The German HTML page of one dataset (its persistent URL and dcat:landingPage)."""
    dataset = find_dataset(datasets, collection_id)
    view = _common_view(settings, public_url)
    view["dataset"] = _dataset_view(dataset, CatalogUrls(public_url))
    return (
        environment("planungsdaten.publish").get_template("catalog_dataset.html.j2").render(**view)
    )


def render_api_page(
    datasets: Sequence[PublishedDataset], settings: CatalogSettings, public_url: str
) -> str:
    """The German HTML page of the OGC API: documentation, terms of use, quality of service."""
    urls = CatalogUrls(public_url)
    view = _common_view(settings, public_url)
    view["datasets"] = [_dataset_view(d, urls) for d in datasets]
    view["availability"] = format_number(settings.availability_target_pct, 1)
    view["rate_limit"] = settings.rate_limit
    view["licences"] = [
        _licence_view(uri) for uri in sorted({uri for d in datasets for uri in d.licences})
    ]
    return environment("planungsdaten.publish").get_template("catalog_api.html.j2").render(**view)
