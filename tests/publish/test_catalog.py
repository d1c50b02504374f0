"""/catalog: the DCAT-AP.de 3.0 + HVD catalogue, validated with the portals' own SHACL shapes,
and the HVD pages for datasets and the API."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pyshacl import validate
from rdflib import RDF, Graph, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.term import Node
from sqlalchemy import Engine

from planungsdaten.app import create_app
from planungsdaten.db.engine import make_engine
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import SourceDefinition, load_source
from planungsdaten.publish.catalog import DCATAP, HVD_LEGISLATION, HYDRA, negotiate
from planungsdaten.settings import (
    PROJECT_DIR,
    AppSettings,
    CatalogSettings,
    ClusterSettings,
    DatabaseSettings,
    HarvestSettings,
    PackageSettings,
    Settings,
)
from tests.conftest import fresh_database, with_sample_file

# rdflib's own JSON-LD parser still uses its deprecated ConjunctiveGraph
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

PUBLIC = "https://planung.example.org"
SH = Namespace("http://www.w3.org/ns/shacl#")
# plain namespaces: rdflib's closed ones warn when pytest probes them for attributes
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCTERMS = Namespace("http://purl.org/dc/terms/")
HVD_SHAPES = "https://semiceu.github.io/DCAT-AP/releases/3.0.0-hvd#"
SAMPLE_SOURCES = ("alkis-nas.yaml", "gemeinden.yaml", "leerstand.yaml")  # addresses first
HVD_DATASETS = {"parcels", "buildings", "municipalities", "addresses"}
OPEN_DATASETS = HVD_DATASETS | {"land_use", "vacancy"}
RDF_FORMATS = {
    "ttl": ("text/turtle", "turtle"),
    "rdf": ("application/rdf+xml", "xml"),
    "jsonld": ("application/ld+json", "json-ld"),
}

# Concepts of the EU authority tables and dcat-ap.de lists the catalogue uses beyond
# eu-vocab-stub.ttl (no offline copy of those vocabularies exists).
VOCAB_EXTENSION = """
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix eu: <http://publications.europa.eu/resource/authority/> .
<http://publications.europa.eu/resource/authority/data-theme/GOVE> a skos:Concept ;
    skos:prefLabel "Government and public sector"@en ; skos:inScheme eu:data-theme .
<http://publications.europa.eu/resource/authority/data-theme/ENVI> a skos:Concept ;
    skos:prefLabel "Environment"@en ; skos:inScheme eu:data-theme .
<http://publications.europa.eu/resource/authority/data-theme/SOCI> a skos:Concept ;
    skos:prefLabel "Population and society"@en ; skos:inScheme eu:data-theme .
<http://publications.europa.eu/resource/authority/access-right/PUBLIC> a skos:Concept ,
    dct:RightsStatement ; skos:prefLabel "public"@en ; skos:inScheme eu:access-right .
<http://publications.europa.eu/resource/authority/frequency/IRREG> a skos:Concept ,
    dct:Frequency ; skos:prefLabel "irregular"@en ; skos:inScheme eu:frequency .
<http://publications.europa.eu/resource/authority/file-type/CSV> a skos:Concept ,
    dct:MediaTypeOrExtent ; skos:prefLabel "CSV"@en ; skos:inScheme eu:file-type .
<http://dcat-ap.de/def/politicalGeocoding/Level/state> a skos:Concept ;
    skos:prefLabel "Land"@de ; skos:inScheme <http://dcat-ap.de/def/politicalGeocoding/Level> .
"""
VOCAB_FILES = (
    "eu-vocab-stub.ttl",
    "dcat-ap-de-licenses-open.rdf",
    "dcat-ap-de-contributors.rdf",
    "hvd-category-scheme.ttl",
)


def _settings(url: str, data_dir: Path, **catalog: object) -> Settings:
    return Settings(
        app=AppSettings(data_dir=data_dir, ogc_reload_interval_s=0, public_url=PUBLIC),
        database=DatabaseSettings(url=SecretStr(url)),
        cluster=ClusterSettings(),
        harvest=HarvestSettings(),
        package=PackageSettings(workers=0),
        catalog=CatalogSettings(**catalog),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def catalog_settings(
    server_url: str, template_url: str, sample_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Settings on a database with the sample boundaries, cadastre and (restricted) vacancy
    register harvested; the tests only read it."""
    with fresh_database(server_url, "planungsdaten_catalog") as url:
        settings = _settings(url, tmp_path_factory.mktemp("catalog"))
        engine = make_engine(settings.database)
        for name in SAMPLE_SOURCES:
            source = load_source(PROJECT_DIR / "harvesters" / "sample" / name)
            result = harvest(engine, with_sample_file(source, sample_dir), settings)
            assert result.status == "succeeded", (source.id, result.message)
        engine.dispose()
        yield settings


@pytest.fixture(scope="module")
def client(catalog_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(catalog_settings)) as client:
        yield client


@pytest.fixture(scope="module")
def catalogue(client: TestClient) -> Graph:
    response = client.get("/catalog.ttl")
    assert response.status_code == 200
    return Graph().parse(data=response.content, format="turtle")


@pytest.fixture(scope="module")
def vocabulary(shared_fixtures: Path) -> Graph:
    """The offline vocabularies, extended with the concepts the stub lacks."""
    graph = Graph()
    for name in VOCAB_FILES:
        graph.parse(shared_fixtures / "dcat" / "vocab" / name)
    return graph.parse(data=VOCAB_EXTENSION, format="turtle")


def _shapes(*paths: Path) -> Graph:
    graph = Graph()
    for path in paths:
        graph.parse(path)
    return graph


@pytest.fixture(scope="module")
def dcat_ap_de_shapes(shared_fixtures: Path) -> Graph:
    """GovData's DCAT-AP.de 3.0 profile: SEMIC DCAT-AP 3.0.0 plus the five German files."""
    shapes = shared_fixtures / "dcat" / "shapes"
    german = sorted((shapes / "dcat-ap-de-3.0").glob("*.ttl"))
    assert len(german) == 5
    return _shapes(shapes / "semic-dcat-ap-3.0.0" / "dcat-ap-SHACL.ttl", *german)


@pytest.fixture(scope="module")
def hvd_shapes(shared_fixtures: Path) -> Graph:
    path = shared_fixtures / "dcat" / "shapes" / "semic-dcat-ap-hvd-3.0.0" / "hvd-SHACL-full.ttl"
    return _shapes(path)


def _validate(data: Graph, shapes: Graph, vocabulary: Graph) -> tuple[bool, Graph, str]:
    """pyshacl as the portals run it offline: the vocabularies merged into the data graph
    (only the concepts the data refers to, which keeps the RDFS closure small), inference
    rdfs; warnings count as failures."""
    used = set(data.subjects()) | set(data.objects())
    merged = Graph()
    for triple in data:
        merged.add(triple)
    for triple in vocabulary:
        if triple[0] in used:
            merged.add(triple)
    conforms, report, text = validate(merged, shacl_graph=shapes, inference="rdfs")
    return bool(conforms), report, str(text)


def _hvd_subset(graph: Graph) -> Graph:
    """The HVD datasets with their distributions, the data service and everything else
    but the other datasets: the HVD shapes take every dcat:Dataset for an HVD dataset."""
    others = {d for d in graph.subjects(RDF.type, DCAT.Dataset) if not _is_hvd(graph, d)}
    drop = others | {x for d in others for x in graph.objects(d, DCAT.distribution)}
    subset = Graph()
    for s, p, o in graph:
        if s not in drop and o not in drop:
            subset.add((s, p, o))
    return subset


def _is_hvd(graph: Graph, node: Node) -> bool:
    return (node, DCATAP.hvdCategory, None) in graph


def _dataset(collection_id: str) -> URIRef:
    return URIRef(f"{PUBLIC}/catalog/datasets/{collection_id}")


def _ids(graph: Graph) -> set[str]:
    return {str(d).rsplit("/", 1)[1] for d in graph.subjects(RDF.type, DCAT.Dataset)}


def _messages(report: Graph) -> set[str]:
    return {str(m) for m in report.objects(None, SH.resultMessage)}


def _source_shapes(report: Graph) -> set[Node]:
    return set(report.objects(None, SH.sourceShape))


# --- content and serialisations ---------------------------------------------------------------


def test_every_serialisation_carries_the_same_triples(client: TestClient, catalogue: Graph) -> None:
    for fmt, (media_type, parser) in RDF_FORMATS.items():
        response = client.get(f"/catalog.{fmt}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
        graph = Graph().parse(data=response.content, format=parser)
        assert isomorphic(graph, catalogue), fmt
    assert len(catalogue) > 200


def test_catalogue_lists_the_open_datasets_with_api_and_downloads(catalogue: Graph) -> None:
    catalog = URIRef(f"{PUBLIC}/catalog")
    assert (catalog, RDF.type, DCAT.Catalog) in catalogue
    assert set(catalogue.objects(catalog, DCAT.dataset)) == {_dataset(i) for i in OPEN_DATASETS}
    assert _ids(catalogue) == OPEN_DATASETS
    assert {str(d).rsplit("/", 1)[1] for d in catalogue.subjects(DCATAP.hvdCategory, None)} >= (
        HVD_DATASETS
    )
    parcels = _dataset("parcels")
    assert catalogue.value(parcels, DCATAP.hvdCategory) == URIRef(
        "http://data.europa.eu/bna/c_6a3f6896"
    )
    assert (parcels, DCATAP.applicableLegislation, HVD_LEGISLATION) in catalogue
    urls = {
        str(catalogue.value(d, DCAT.accessURL))
        for d in catalogue.objects(parcels, DCAT.distribution)
    }
    assert urls == {
        f"{PUBLIC}/downloads/parcels.gpkg",
        f"{PUBLIC}/downloads/parcels.geojson",
        f"{PUBLIC}/downloads/parcels.csv",
        f"{PUBLIC}/ogc/collections/parcels",
    }
    for distribution in catalogue.objects(parcels, DCAT.distribution):
        licence = catalogue.value(distribution, DCTERMS.license)
        assert licence == URIRef("http://dcat-ap.de/def/licenses/cc-by/4.0")
        assert (licence, RDF.type, DCTERMS.LicenseDocument) in catalogue
    service = URIRef(f"{PUBLIC}/catalog/api")
    assert catalogue.value(service, DCAT.endpointURL) == URIRef(f"{PUBLIC}/ogc")
    assert catalogue.value(service, DCAT.endpointDescription) == URIRef(
        f"{PUBLIC}/ogc/openapi?f=json"
    )
    assert set(catalogue.objects(service, DCAT.servesDataset)) == {
        _dataset(i) for i in OPEN_DATASETS
    }
    # a catalogue this small is one page: no paging view
    assert not list(catalogue.subjects(RDF.type, HYDRA.PartialCollectionView))


def test_vacancy_register_itself_never_appears(client: TestClient, catalogue: Graph) -> None:
    text = client.get("/catalog.ttl").text
    # only the aggregate: the restricted register's own title, fields and table stay out
    assert "Leerstandskataster Mücheln" not in text
    assert "Hausnr" not in text
    assert (_dataset("vacancy"), DCTERMS.title, None) in catalogue
    assert str(catalogue.value(_dataset("vacancy"), DCTERMS.title)).startswith("Leerstand je")
    assert not _is_hvd(catalogue, _dataset("vacancy"))


# --- validation with the portals' shapes --------------------------------------------------------


@pytest.mark.fixtures
def test_catalogue_conforms_to_dcat_ap_de(
    catalogue: Graph, dcat_ap_de_shapes: Graph, vocabulary: Graph
) -> None:
    conforms, _, text = _validate(catalogue, dcat_ap_de_shapes, vocabulary)
    assert conforms, text


@pytest.mark.fixtures
def test_hvd_datasets_and_data_service_conform_to_hvd(
    catalogue: Graph, hvd_shapes: Graph, vocabulary: Graph
) -> None:
    subset = _hvd_subset(catalogue)
    assert _ids(subset) == HVD_DATASETS
    assert (URIRef(f"{PUBLIC}/catalog/api"), RDF.type, DCAT.DataService) in subset
    conforms, _, text = _validate(subset, hvd_shapes, vocabulary)
    assert conforms, text


@pytest.mark.fixtures
def test_broken_records_fail_validation(
    catalogue: Graph, dcat_ap_de_shapes: Graph, hvd_shapes: Graph, vocabulary: Graph
) -> None:
    no_licence = Graph() + catalogue
    gpkg = URIRef(f"{PUBLIC}/catalog/datasets/parcels#gpkg")
    no_licence.remove((gpkg, DCTERMS.license, None))
    conforms, report, _ = _validate(no_licence, dcat_ap_de_shapes, vocabulary)
    assert not conforms
    assert "DE: dcat:Distribution: MUSS eine dcterms:license haben." in _messages(report)
    conforms, _, _ = _validate(_hvd_subset(no_licence), hvd_shapes, vocabulary)
    assert not conforms

    wrong_category = Graph() + catalogue
    buildings = _dataset("buildings")
    wrong_category.remove((buildings, DCATAP.hvdCategory, None))
    wrong_category.add(
        (buildings, DCATAP.hvdCategory, URIRef("http://data.europa.eu/bna/c_00000000"))
    )
    conforms, _, text = _validate(_hvd_subset(wrong_category), hvd_shapes, vocabulary)
    assert not conforms
    assert "asd487ae75" in text

    no_api = Graph() + catalogue
    no_api.remove((None, DCAT.servesDataset, _dataset("addresses")))
    no_api.remove((URIRef(f"{PUBLIC}/catalog/datasets/addresses#api"), DCAT.accessService, None))
    conforms, report, _ = _validate(_hvd_subset(no_api), hvd_shapes, vocabulary)
    assert not conforms
    assert URIRef(HVD_SHAPES + "dcat:DatasetShape/API") in _source_shapes(report)


# --- paging and content negotiation -----------------------------------------------------------


def test_hydra_pages_link_up_and_list_every_dataset(catalog_settings: Settings) -> None:
    paged = dataclasses.replace(catalog_settings, catalog=CatalogSettings(page_size=2))
    seen: list[str] = []
    with TestClient(create_app(paged)) as client:
        url: str | None = "/catalog.ttl"
        pages = 0
        while url is not None:
            response = client.get(url.removeprefix(PUBLIC))
            assert response.status_code == 200
            graph = Graph().parse(data=response.content, format="turtle")
            views = list(graph.subjects(RDF.type, HYDRA.PartialCollectionView))
            assert len(views) == 1
            view = views[0]
            assert graph.value(view, HYDRA.first) == URIRef(f"{PUBLIC}/catalog.ttl?page=1")
            assert graph.value(view, HYDRA.last) == URIRef(f"{PUBLIC}/catalog.ttl?page=3")
            assert graph.value(view, HYDRA.totalItems).toPython() == len(OPEN_DATASETS)  # type: ignore[union-attr]
            ids = _ids(graph)
            assert 1 <= len(ids) <= 2
            seen.extend(ids)
            pages += 1
            following = graph.value(view, HYDRA.next)
            url = None if following is None else str(following)
        assert pages == 3
        assert client.get("/catalog.ttl", params={"page": 4}).status_code == 404
        jsonld = client.get("/catalog", params={"f": "jsonld", "page": 2})
        graph = Graph().parse(data=jsonld.content, format="json-ld")
        view = next(graph.subjects(RDF.type, HYDRA.PartialCollectionView))
        assert graph.value(view, HYDRA.next) == URIRef(f"{PUBLIC}/catalog?f=jsonld&page=3")
        assert graph.value(view, HYDRA.previous) == URIRef(f"{PUBLIC}/catalog?f=jsonld&page=1")
    assert sorted(seen) == sorted(OPEN_DATASETS)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "text/turtle"),
        ("*/*", "text/turtle"),
        ("text/turtle", "text/turtle"),
        ("application/rdf+xml", "application/rdf+xml"),
        ("application/ld+json", "application/ld+json"),
        ("text/html,application/ld+json;q=0.9,*/*;q=0.8", "application/ld+json"),
        ("application/rdf+xml;q=0.5, text/turtle;q=0.7", "text/turtle"),
    ],
)
def test_catalog_negotiates_the_format(
    client: TestClient, accept: str | None, media_type: str
) -> None:
    headers = {"Accept": accept} if accept is not None else {}
    response = client.get("/catalog", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert "Accept" in response.headers["vary"]


def test_catalog_format_parameter(client: TestClient, catalogue: Graph) -> None:
    for fmt, (media_type, parser) in RDF_FORMATS.items():
        response = client.get("/catalog", params={"f": fmt}, headers={"Accept": "text/turtle"})
        assert response.headers["content-type"].startswith(media_type)
        assert isomorphic(Graph().parse(data=response.content, format=parser), catalogue)
    response = client.get("/catalog", params={"f": "xlsx"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("Ungültige Anfrage")


def test_negotiate_prefers_quality_then_specificity() -> None:
    offers = ["text/html", "text/turtle"]
    assert negotiate("text/*;q=0.5, text/turtle", offers, "text/html") == "text/turtle"
    assert negotiate("image/png", offers, "text/html") == "text/html"
    assert negotiate("text/turtle;q=0", offers, "text/html") == "text/html"
    assert negotiate("text/*", offers, "text/turtle") == "text/html"


# --- HVD pages ---------------------------------------------------------------------------------


def _page(client: TestClient, path: str) -> tuple[str, lxml.html.HtmlElement]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    document = lxml.html.document_fromstring(response.text)
    assert document.get("lang") == "de"
    assert len(document.findall(".//h1")) == 1
    # no external resources: no scripts, no stylesheets or images from elsewhere
    assert not document.xpath("//script | //img | //link[@rel='stylesheet'] | //iframe")
    for link in document.iterlinks():
        element = link[0]
        assert element.tag == "a" or element.get("rel") in ("canonical", "alternate"), link
    assert all(a.text_content().strip() for a in document.findall(".//a"))
    return response.text, document


def test_dataset_page_shows_licence_attribution_and_links(client: TestClient) -> None:
    text, document = _page(client, "/catalog/datasets/parcels")
    hrefs = {a.get("href") for a in document.findall(".//a")}
    assert "Flurstücke" in document.findtext(".//h1", "")
    assert "Creative Commons Namensnennung 4.0 International" in text
    assert "https://creativecommons.org/licenses/by/4.0/" in hrefs
    assert "Beispieldaten planungsdaten (synthetisch), CC BY 4.0" in text
    assert "Letzte Aktualisierung" in text and "<time datetime=" in text
    assert "Katasterparzellen" in text  # HVD category
    assert {
        f"{PUBLIC}/ogc/collections/parcels",
        f"{PUBLIC}/ogc/collections/parcels/items",
        f"{PUBLIC}/downloads/parcels.gpkg",
        f"{PUBLIC}/downloads/parcels.geojson",
        f"{PUBLIC}/downloads/parcels.csv",
        f"{PUBLIC}/catalog/datasets/parcels?f=ttl",
        f"{PUBLIC}/catalog/datasets/parcels",
    } <= hrefs


def test_dataset_record_in_rdf(client: TestClient, catalogue: Graph) -> None:
    response = client.get("/catalog/datasets/parcels", params={"f": "ttl"})
    assert response.headers["content-type"].startswith("text/turtle")
    record = Graph().parse(data=response.content, format="turtle")
    assert _ids(record) == {"parcels"}
    parcels = _dataset("parcels")
    assert set(record.triples((parcels, None, None))) == set(
        catalogue.triples((parcels, None, None))
    )
    negotiated = client.get("/catalog/datasets/parcels", headers={"Accept": "application/ld+json"})
    assert negotiated.headers["content-type"].startswith("application/ld+json")


def test_api_page_documents_terms_and_quality(client: TestClient) -> None:
    text, document = _page(client, "/catalog/api")
    hrefs = {a.get("href") for a in document.findall(".//a")}
    assert {f"{PUBLIC}/ogc", f"{PUBLIC}/ogc/openapi", f"{PUBLIC}/docs"} <= hrefs
    assert "Nutzungsbedingungen" in text and "Namensnennung" in text
    assert "99,0 %" in text
    assert "mailto:opendata@example.org" in hrefs
    assert "https://creativecommons.org/licenses/by/4.0/" in hrefs
    assert f"{PUBLIC}/catalog/datasets/buildings" in hrefs


def test_unknown_dataset_is_404_in_german(client: TestClient) -> None:
    for path in ("/catalog/datasets/gibt-es-nicht", "/catalog/datasets/vacancy_register"):
        response = client.get(path)
        assert response.status_code == 404
        assert "Kein veröffentlichter Datensatz" in response.json()["detail"]


def test_restricted_dataset_is_not_published(
    engine: Engine, settings: Settings, sample_source: SourceDefinition
) -> None:
    restricted = sample_source.model_copy(update={"access": "restricted"})
    harvest(engine, restricted, settings)
    public = dataclasses.replace(
        settings, app=settings.app.model_copy(update={"public_url": PUBLIC})
    )
    with TestClient(create_app(public)) as client:
        assert client.get("/catalog/datasets/municipalities").status_code == 404
        graph = Graph().parse(data=client.get("/catalog").content, format="turtle")
    assert _ids(graph) == set()
