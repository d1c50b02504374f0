"""An open raster in the DCAT-AP.de catalogue: a dataset with its spatial resolution and
band meaning, the COG as a download and the OGC API Coverages endpoint as distributions,
still valid against the portals' SHACL shapes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest
from fastapi.testclient import TestClient
from rdflib import RDF, Graph, Literal, URIRef

from planungsdaten.app import create_app
from planungsdaten.db.engine import make_engine
from planungsdaten.harvest.run import harvest
from planungsdaten.harvest.sources import load_source
from planungsdaten.settings import PROJECT_DIR, Settings
from tests.conftest import fresh_database, with_sample_file
from tests.publish.test_catalog import (  # noqa: F401  (fixtures)
    DCAT,
    DCTERMS,
    PUBLIC,
    _hvd_subset,
    _settings,
    _validate,
    dcat_ap_de_shapes,
    hvd_shapes,
    vocabulary,
)
from tests.rasters.conftest import raster_definition, write_geotiff

pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")

DECIMAL = URIRef("http://www.w3.org/2001/XMLSchema#decimal")
RASTER = URIRef(f"{PUBLIC}/catalog/datasets/gelaende")
COG = URIRef(f"{PUBLIC}/catalog/datasets/gelaende#cog")
API = URIRef(f"{PUBLIC}/catalog/datasets/gelaende#api")
# the file type the stub vocabulary lacks
GEOTIFF_TYPE = """
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix dct: <http://purl.org/dc/terms/> .
<http://publications.europa.eu/resource/authority/file-type/GEOTIFF> a skos:Concept ,
    dct:MediaTypeOrExtent ; skos:prefLabel "GeoTIFF"@en ;
    skos:inScheme <http://publications.europa.eu/resource/authority/file-type> .
"""


@pytest.fixture(scope="module")
def raster_settings(
    server_url: str, template_url: str, sample_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """The sample boundaries (an HVD dataset) and a terrain raster, harvested."""
    folder = tmp_path_factory.mktemp("raster-catalog")
    with fresh_database(server_url, "planungsdaten_raster_catalog") as url:
        settings = _settings(url, folder / "data")
        engine = make_engine(settings.database)
        boundaries = load_source(PROJECT_DIR / "harvesters" / "sample" / "gemeinden.yaml")
        dgm = write_geotiff(folder / "dgm.tif")
        for source in (
            with_sample_file(boundaries, sample_dir),
            raster_definition(folder, dgm, crs="EPSG:25832"),
        ):
            result = harvest(engine, source, settings)
            assert result.status == "succeeded", (source.id, result.message)
        engine.dispose()
        yield settings


@pytest.fixture(scope="module")
def client(raster_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(raster_settings)) as client:
        yield client


@pytest.fixture(scope="module")
def catalogue(client: TestClient) -> Graph:
    response = client.get("/catalog.ttl")
    assert response.status_code == 200
    return Graph().parse(data=response.content, format="turtle")


def test_raster_is_a_dataset_with_resolution_and_bands(catalogue: Graph) -> None:
    assert (RASTER, RDF.type, DCAT.Dataset) in catalogue
    assert (URIRef(f"{PUBLIC}/catalog"), DCAT.dataset, RASTER) in catalogue
    assert str(catalogue.value(RASTER, DCTERMS.title)) == "Digitales Geländemodell (Test)"
    description = str(catalogue.value(RASTER, DCTERMS.description))
    assert "Band 1 „hoehe“: Geländehöhe über NHN (DHHN2016) (Einheit m)" in description
    assert "NoData-Wert -9999" in description and "EPSG:25832" in description
    resolution = catalogue.value(RASTER, DCAT.spatialResolutionInMeters)
    assert isinstance(resolution, Literal)
    assert resolution.datatype == DECIMAL and float(resolution) == 10.0
    assert catalogue.value(RASTER, DCTERMS.modified) is not None
    licence = URIRef("http://dcat-ap.de/def/licenses/dl-by-de/2.0")
    assert set(catalogue.objects(RASTER, DCAT.distribution)) == {COG, API}
    for distribution in (COG, API):
        assert catalogue.value(distribution, DCTERMS.license) == licence
    service = URIRef(f"{PUBLIC}/catalog/api")
    assert (service, DCAT.servesDataset, RASTER) in catalogue
    assert (
        service,
        DCTERMS.conformsTo,
        URIRef("http://www.opengis.net/spec/ogcapi-coverages-1/1.0"),
    ) in (catalogue)


def test_raster_distributions(catalogue: Graph, raster_settings: Settings) -> None:
    download = URIRef(f"{PUBLIC}/downloads/rasters/gelaende.tif")
    assert catalogue.value(COG, DCAT.downloadURL) == download
    assert catalogue.value(COG, DCAT.mediaType) == URIRef(
        "https://www.iana.org/assignments/media-types/image/tiff"
    )
    assert catalogue.value(COG, DCTERMS["format"]) == URIRef(
        "http://publications.europa.eu/resource/authority/file-type/GEOTIFF"
    )
    assert "profile=cloud-optimized" in str(catalogue.value(COG, DCTERMS.description))
    [stored] = (raster_settings.rasters_dir / "test-dgm").iterdir()
    assert str(catalogue.value(COG, DCAT.byteSize)) == str(stored.stat().st_size)
    assert catalogue.value(COG, DCTERMS.conformsTo) == URIRef(
        "http://www.opengis.net/doc/IS/COG/1.0"
    )
    assert catalogue.value(API, DCAT.accessURL) == URIRef(
        f"{PUBLIC}/ogc/collections/gelaende/coverage"
    )
    assert catalogue.value(API, DCAT.accessService) == URIRef(f"{PUBLIC}/catalog/api")
    assert catalogue.value(API, DCTERMS.conformsTo) == URIRef(
        "http://www.opengis.net/spec/ogcapi-coverages-1/1.0"
    )


@pytest.mark.fixtures
def test_catalogue_with_a_raster_conforms_to_dcat_ap_de(
    catalogue: Graph,
    dcat_ap_de_shapes: Graph,  # noqa: F811
    hvd_shapes: Graph,  # noqa: F811
    vocabulary: Graph,  # noqa: F811
) -> None:
    vocab = Graph() + vocabulary
    vocab.parse(data=GEOTIFF_TYPE, format="turtle")
    conforms, _, text = _validate(catalogue, dcat_ap_de_shapes, vocab)
    assert conforms, text
    # the raster is no HVD dataset here; the HVD ones and the data service stay valid
    conforms, _, text = _validate(_hvd_subset(catalogue), hvd_shapes, vocab)
    assert conforms, text


@pytest.mark.fixtures
def test_raster_without_resolution_fails_dcat_ap_de_when_mistyped(
    catalogue: Graph,
    dcat_ap_de_shapes: Graph,  # noqa: F811
    vocabulary: Graph,  # noqa: F811
) -> None:
    """The shapes do look at the raster's properties: a resolution as a plain string fails."""
    broken = Graph() + catalogue
    broken.remove((RASTER, DCAT.spatialResolutionInMeters, None))
    broken.add((RASTER, DCAT.spatialResolutionInMeters, Literal("10 m")))
    vocab = Graph() + vocabulary
    vocab.parse(data=GEOTIFF_TYPE, format="turtle")
    conforms, _, text = _validate(broken, dcat_ap_de_shapes, vocab)
    assert not conforms
    assert "spatialResolutionInMeters" in text


def test_dataset_page_of_a_raster(client: TestClient) -> None:
    response = client.get("/catalog/datasets/gelaende")
    assert response.status_code == 200
    document = lxml.html.document_fromstring(response.text)
    hrefs = {a.get("href") for a in document.findall(".//a")}
    assert {
        f"{PUBLIC}/downloads/rasters/gelaende.tif",
        f"{PUBLIC}/ogc/collections/gelaende",
        f"{PUBLIC}/ogc/collections/gelaende/coverage",
    } <= hrefs
    assert not any(h and h.endswith(("/items", ".gpkg")) for h in hrefs)
    assert "Anzahl Rasterzellen" in response.text and "OGC API Coverages" in response.text
    record = Graph().parse(
        data=client.get("/catalog/datasets/gelaende", params={"f": "ttl"}).content,
        format="turtle",
    )
    assert (RASTER, RDF.type, DCAT.Dataset) in record
    api_page = client.get("/catalog/api").text
    assert f"{PUBLIC}/catalog/datasets/gelaende" in api_page
