"""Our pygeoapi feature provider: PostGIS selects, transforms and serialises the features.

pygeoapi's stock PostgreSQL provider loads every row into an ORM object, converts its
geometry with shapely, transforms coordinates in Python feature by feature and counts all
matching rows on every request. Here one SQL statement returns each feature as finished
GeoJSON text (`ST_Transform`, `ST_AsGeoJSON`, `json_build_object`), rows are streamed from
a server-side cursor, and `numberMatched` comes from a count cached per dataset version
(unfiltered) or an exact count only when the planner's estimate says it is cheap.

Named by dotted path in the generated pygeoapi configuration
(`planungsdaten.publish.provider.PostGISProvider`); the provider definition carries the
columns and extent the catalogue knows, so creating one (pygeoapi does so per request)
costs no database round trip.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import shapely
from geoalchemy2 import Geometry
from pygeoapi.crs import CrsTransformSpec
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)
from pygeoapi.util import str2bool
from pygeofilter.backends.sqlalchemy.evaluate import to_filter
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Select,
    SmallInteger,
    Table,
    Text,
    bindparam,
    case,
    create_engine,
    false,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import DataError, DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.types import TypeEngine

from planungsdaten.publish.bbox import CRS84, crs_of, northing_first, srid_of

LOGGER = logging.getLogger(__name__)

# decimal places of output coordinates: ~1 mm in degrees and in metres (at 1 cm close
# vertices of ALKIS outlines would fall together)
DEGREE_DIGITS, METRE_DIGITS = 8, 3
# filtered result sets the planner estimates above this are not counted (numberMatched is
# optional; paging then follows `next` links until a page is short)
EXACT_COUNT_LIMIT = 100_000
FETCH_ROWS = 2_000

# PostgreSQL type name → (SQLAlchemy type, JSON schema type, JSON schema format)
_TYPES: dict[str, tuple[TypeEngine[Any], str, str | None]] = {
    "int2": (SmallInteger(), "integer", None),
    "int4": (Integer(), "integer", None),
    "int8": (BigInteger(), "integer", None),
    "float4": (Float(), "number", None),
    "float8": (Float(), "number", None),
    "numeric": (Numeric(), "number", None),
    "bool": (Boolean(), "boolean", None),
    "date": (Date(), "string", "date"),
    "timestamp": (DateTime(), "string", "date-time"),
    "timestamptz": (DateTime(timezone=True), "string", "date-time"),
}
_TEXT: tuple[TypeEngine[Any], str, str | None] = (Text(), "string", None)


def json_type(pg_type: str) -> str:
    """The JSON schema type of a PostgreSQL type name (queryables, vector tile fields)."""
    return _TYPES.get(pg_type, _TEXT)[1]


# the cached unfiltered counts: (database, table, dataset version) → rows
_COUNTS: dict[tuple[tuple[Any, ...], str, str], int] = {}


@dataclass(frozen=True)
class FeatureQuery:
    """What an items request asks for, checked and in the storage CRS."""

    offset: int = 0
    limit: int = 10
    area: BaseGeometry | None = None  # bbox as an exact area in the storage CRS
    nothing: bool = False  # the bbox cannot touch the collection
    datetime_: str | None = None
    properties: tuple[tuple[str, str], ...] = ()
    sortby: tuple[tuple[str, str], ...] = ()  # (property, "+" or "-")
    select: tuple[str, ...] = ()
    skip_geometry: bool = False
    q: str | None = None
    filterq: Any = None  # a pygeofilter AST
    crs: str = CRS84
    hits: bool = False
    # keyset paging: start after this id (in id order) instead of skipping `offset` rows
    after: Any = None


@dataclass
class FeaturePage:
    """One page: `numberMatched` (None when not counted) and the features as GeoJSON text,
    streamed comma-separated in chunks; the connection is closed once they are consumed."""

    matched: int | None
    _rows: Iterator[list[str]] = field(repr=False)
    returned: int = 0
    _last: str | None = None

    def chunks(self) -> Iterator[bytes]:
        """The features, comma-separated, in chunks of up to FETCH_ROWS features."""
        first = True
        for rows in self._rows:
            self.returned += len(rows)
            self._last = rows[-1]
            body = ",".join(rows).encode()
            yield body if first else b"," + body
            first = False

    @property
    def last_id(self) -> Any:
        """The id of the last feature streamed (for a keyset `next` link), or None."""
        if self._last is None:
            return None
        start = self._last.index(',"id":') + 6
        return json.loads(self._last[start : self._last.index(',"geometry":', start)])

    def features(self) -> list[dict[str, Any]]:
        """The features parsed (for HTML and JSON-LD)."""
        features: list[dict[str, Any]] = json.loads(b"[" + b"".join(self.chunks()) + b"]")
        return features


_ENGINES: dict[tuple[Any, ...], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(data: dict[str, Any], *, statement_timeout_ms: int, name: str) -> Engine:
    """One read-only pool per database and use, shared by every provider instance (pygeoapi
    makes one per request): features and vector tiles. `data` is the provider's
    connection definition generated by `ogc_config`."""
    search_path = ",".join(data.get("search_path") or ["public"])
    key = (*connection_key(data), search_path, statement_timeout_ms, name)
    with _ENGINES_LOCK:
        if key in _ENGINES:
            return _ENGINES[key]
        # every transaction a read-only snapshot (count and page agree) without SET commands
        # on each checkout: the session defaults say so
        options = (
            f"-c statement_timeout={statement_timeout_ms} -c timezone=UTC"
            f" -c search_path={search_path}"
            " -c default_transaction_isolation=repeatable\\ read"
            " -c default_transaction_read_only=on"
            # psycopg prepares a statement run five times; a generic plan for a bbox (with no
            # area known) walks the id index instead of the GiST index: plan for each value
            " -c plan_cache_mode=force_custom_plan"
            # many small concurrent queries: starting a parallel worker costs ~20 ms, more
            # than the whole query (a bbox page reads a few hundred rows via the GiST index)
            " -c max_parallel_workers_per_gather=0"
        )
        url = URL.create(
            "postgresql+psycopg",
            username=data.get("user"),
            password=data.get("password"),
            host=data.get("host"),
            port=data.get("port"),
            database=data.get("dbname"),
        )
        _ENGINES[key] = create_engine(
            url,
            pool_size=8,
            max_overflow=8,
            pool_pre_ping=True,
            connect_args={"options": options, "application_name": name},
        )
        return _ENGINES[key]


def connection_key(data: dict[str, Any]) -> tuple[Any, ...]:
    """Which database a provider's connection definition names."""
    return (data.get("host"), data.get("port"), data.get("dbname"), data.get("user"))


def dispose_engines() -> None:
    """Close the pooled connections of every provider engine (tests, shutdown)."""
    with _ENGINES_LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


@functools.cache
def _table(
    name: str, columns: tuple[tuple[str, str], ...], geom: str, srid: int, id_field: str
) -> Table:
    cols = [
        Column(n, Geometry(srid=srid) if n == geom else _TYPES.get(t, _TEXT)[0]) for n, t in columns
    ]
    for c in cols:
        c.primary_key = c.name == id_field
    return Table(name, MetaData(), *cols)


class PostGISProvider(BaseProvider):
    """OGC API Features from a PostGIS table or view, the database doing the work."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        data = provider_def["data"]
        self.database = connection_key(data)
        self.table_name: str = provider_def["table"]
        self.geom: str = provider_def.get("geom_field", "geom")
        self.version = str(provider_def.get("version", ""))
        extent = provider_def.get("extent")
        self.extent: tuple[float, float, float, float] | None = tuple(extent) if extent else None
        self.storage_uri: str = provider_def["storage_crs"]
        self.srid = srid_of(self.storage_uri)
        self.column_types = {c["name"]: c["type"] for c in provider_def["columns"]}
        self.table = _table(
            self.table_name,
            tuple((c["name"], c["type"]) for c in provider_def["columns"]),
            self.geom,
            self.srid,
            self.id_field,
        )
        # the feature expression per (CRS, properties, skipGeometry): built once per provider
        self._feature_expr: dict[tuple[str, tuple[str, ...], bool], ColumnElement[str]] = {}
        self._feature_text: dict[tuple[str, tuple[str, ...], bool], str] = {}
        self._engine = engine_for(
            data,
            statement_timeout_ms=int(data.get("statement_timeout_ms", 60_000)),
            name="planungsdaten-ogc",
        )
        self.get_fields()

    # -- pygeoapi's provider interface ---------------------------------------------------

    def get_fields(self) -> dict[str, dict[str, str]]:
        """Columns other than the geometry, as JSON schema types."""
        if not self._fields:
            for name, pg_type in self.column_types.items():
                if name == self.geom:
                    continue
                _, kind, fmt = _TYPES.get(pg_type, _TEXT)
                self._fields[name] = {"type": kind, **({"format": fmt} if fmt else {})}
        return self._fields

    def query(
        self,
        offset: int = 0,
        limit: int = 10,
        resulttype: str = "results",
        bbox: list[float] | None = None,
        datetime_: str | None = None,
        properties: list[tuple[str, str]] | None = None,
        sortby: list[dict[str, str]] | None = None,
        select_properties: list[str] | None = None,
        skip_geometry: bool = False,
        q: str | None = None,
        filterq: Any = None,
        crs_transform_spec: CrsTransformSpec | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """A FeatureCollection as pygeoapi's items handler wants it (its `bbox` is already
        in the storage CRS; our own items route passes an exact area instead)."""

        area = shapely.box(*bbox[:2], *bbox[-2:]) if bbox else None
        request = FeatureQuery(
            offset=offset,
            limit=limit,
            area=area,
            datetime_=datetime_,
            properties=tuple(properties or ()),
            sortby=tuple((s["property"], s["order"]) for s in sortby or ()),
            select=tuple(select_properties or ()),
            skip_geometry=skip_geometry,
            q=q,
            filterq=filterq,
            crs=crs_transform_spec.target_crs_uri if crs_transform_spec else self.storage_uri,
            hits=resulttype == "hits",
        )
        page = self.page(request)
        features = [] if request.hits else page.features()
        collection: dict[str, Any] = {
            "type": "FeatureCollection",
            "features": features,
            "numberReturned": len(features),
        }
        if page.matched is not None:
            collection["numberMatched"] = page.matched
        return collection

    def get(
        self, identifier: str, crs_transform_spec: CrsTransformSpec | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """One feature by its id."""
        target = crs_transform_spec.target_crs_uri if crs_transform_spec else self.storage_uri
        key = self._typed(self.id_field, identifier)
        if key is None:
            raise ProviderItemNotFoundError(f"Kein Objekt mit {self.id_field}={identifier}.")
        statement = select(self._feature_json(target, (), False)).where(
            self.table.c[self.id_field] == key
        )
        with self._connect() as conn:
            text = conn.execute(statement).scalar_one_or_none()
        if text is None:
            raise ProviderItemNotFoundError(f"Kein Objekt mit {self.id_field}={identifier}.")
        feature: dict[str, Any] = json.loads(text)
        return feature

    # -- our items route -----------------------------------------------------------------

    def page(self, request: FeatureQuery) -> FeaturePage:
        """Count (where cheap) and open a stream of one page of features, in one snapshot."""
        if request.nothing:
            return FeaturePage(matched=0, _rows=iter(()))
        conditions = self._conditions(request)
        conn = self._connect()
        try:
            matched = self._count(conn, conditions, exact=request.hits)
            if request.hits:
                conn.close()
                return FeaturePage(matched=matched, _rows=iter(()))
            sql, params = self._page_sql(conn, request, conditions)
            # a server-side cursor costs round trips; only large pages are worth streaming
            if request.limit > FETCH_ROWS:
                conn = conn.execution_options(stream_results=True, max_row_buffer=FETCH_ROWS)
            rows = conn.exec_driver_sql(sql, params).scalars()
        except (DataError, ProgrammingError) as e:
            # a filter comparing a field with a value of another type, and the like
            conn.close()
            LOGGER.info("rejected query on %s: %s", self.table_name, e.orig)
            raise ProviderInvalidQueryError(
                "Die Abfrage passt nicht zu den Feldern und ihren Typen (siehe /queryables)."
            ) from e
        except DBAPIError as e:
            conn.close()
            LOGGER.error("query on %s failed: %s", self.table_name, e.orig)
            raise ProviderQueryError(
                "Abfrage fehlgeschlagen; bitte später erneut versuchen."
            ) from e
        except Exception:
            conn.close()
            raise
        return FeaturePage(matched=matched, _rows=_batches(conn, rows))

    # -- SQL ---------------------------------------------------------------------------

    def _page_sql(
        self, conn: Connection, request: FeatureQuery, conditions: list[ColumnElement[bool]]
    ) -> tuple[str, dict[str, Any]]:
        """The page's rows are chosen in a subquery and only they are turned into GeoJSON:
        with the expression in the same SELECT, PostgreSQL would build it for every row
        an OFFSET skips. The subquery is named like the table, so the (cached) feature
        expression reads its columns; a projection keeps the subquery's order."""
        offset = request.offset
        if request.after is not None and not request.sortby:
            key = self._typed(self.id_field, str(request.after))
            if key is None:
                raise ProviderInvalidQueryError("cursor passt nicht zu dieser Sammlung")
            conditions = [*conditions, self.table.c[self.id_field] > key]
            offset = 0
        rows = (
            # `*`, not the columns: GeoAlchemy would read the geometry as EWKB
            select(literal_column("*"))
            .select_from(self.table)
            .where(*conditions)
            .order_by(*self._order(request.sortby))
            .offset(offset)
            .limit(request.limit)
            .compile(dialect=conn.dialect)
        )
        feature = self._feature_sql(conn, request.crs, request.select, request.skip_geometry)
        name = conn.dialect.identifier_preparer.quote(self.table_name)
        return f"SELECT {feature} FROM ({rows}) AS {name}", dict(rows.params)

    def _feature_sql(
        self, conn: Connection, target_uri: str, selected: tuple[str, ...], skip_geometry: bool
    ) -> str:
        key = (target_uri, selected, skip_geometry)
        if key not in self._feature_text:
            expression = self._feature_json(target_uri, selected, skip_geometry)
            compiled = expression.compile(
                dialect=conn.dialect, compile_kwargs={"literal_binds": True}
            )
            self._feature_text[key] = str(compiled)
        return self._feature_text[key]

    def _connect(self) -> Connection:
        try:
            conn = self._engine.connect()
        except OperationalError as e:
            raise ProviderConnectionError("Datenbank nicht erreichbar") from e
        return conn

    def _feature_json(
        self, target_uri: str, selected: tuple[str, ...], skip_geometry: bool
    ) -> ColumnElement[str]:
        """One feature as GeoJSON text, assembled in SQL (the geometry text is not parsed
        again, as `json_build_object` with `ST_AsGeoJSON(…)::json` would)."""
        key = (target_uri, selected, skip_geometry)
        if key not in self._feature_expr:
            self._feature_expr[key] = self._build_feature_json(target_uri, selected, skip_geometry)
        return self._feature_expr[key]

    def _build_feature_json(
        self, target_uri: str, selected: tuple[str, ...], skip_geometry: bool
    ) -> ColumnElement[str]:
        t = self.table
        if skip_geometry:
            geometry: ColumnElement[str] = _text("null")
        else:
            g: ColumnElement[Any] = t.c[self.geom]
            srid = srid_of(target_uri)
            if srid != self.srid:
                g = func.ST_Transform(g, srid)
            if northing_first(target_uri):
                g = func.ST_FlipCoordinates(g)
            digits = DEGREE_DIGITS if crs_of(target_uri).is_geographic else METRE_DIGITS
            # options 0: no "crs" member in the geometry
            geometry = func.coalesce(
                func.ST_AsGeoJSON(g, literal_column(str(digits)), literal_column("0")),
                _text("null"),
            )
        names = selected or tuple(self.fields)
        properties: ColumnElement[str] = _text("{")
        for i, name in enumerate(names):
            key = ("," if i else "") + json.dumps(name) + ":"
            properties = properties + _text(key) + self._value_json(name)
        properties = properties + _text("}")
        identifier = func.to_json(t.c[self.id_field]).cast(Text)
        return (
            _text('{"type":"Feature","id":')
            + identifier
            + _text(',"geometry":')
            + geometry
            + _text(',"properties":')
            + properties
            + _text("}")
        )

    def _value_json(self, name: str) -> ColumnElement[str]:
        """A property's value as JSON text. Numbers of a decimal column keep a decimal point
        (`446.0`, not `446`): clients such as GDAL type a field from the first page, and
        would make it an integer and cut every later fraction off."""
        column = self.table.c[name]
        if self.column_types[name] in ("float4", "float8", "numeric"):
            as_text = column.cast(Text)
            return case(
                (column.is_(None), _text("null")),
                (as_text.op("~")("^-?[0-9]+$"), as_text + _text(".0")),
                else_=func.to_json(column).cast(Text),
            )
        return func.coalesce(func.to_json(column).cast(Text), _text("null"))

    def _conditions(self, request: FeatureQuery) -> list[ColumnElement[bool]]:
        t = self.table
        conditions: list[ColumnElement[bool]] = []
        if request.area is not None:
            wkb = bindparam("area", shapely.to_wkb(request.area), LargeBinary)
            area = func.ST_GeomFromWKB(wkb, self.srid)
            conditions.append(func.ST_Intersects(t.c[self.geom], area))
        for name, value in request.properties:
            typed = self._typed(name, value)
            if typed is None:
                raise ProviderInvalidQueryError(f"{name}: '{value}' passt nicht zum Typ des Feldes")
            conditions.append(t.c[name] == typed)
        if request.datetime_ not in (None, "../.."):
            conditions.append(self._time_condition(str(request.datetime_)))
        if request.q:
            terms = [term.strip() for term in request.q.split(",") if term.strip()]
            texts = [c for c in t.c if self.column_types[c.name] in ("text", "varchar")]
            conditions.append(
                or_(false(), *(c.ilike(f"%{term}%") for term in terms for c in texts))
            )
        if request.filterq is not None:
            mapping = {c.name: c for c in t.c}
            try:
                conditions.append(to_filter(request.filterq, mapping))
            except (KeyError, AttributeError, TypeError, ValueError) as e:
                raise ProviderInvalidQueryError(f"Filter nicht anwendbar: {e}") from e
        return conditions

    def _time_condition(self, value: str) -> ColumnElement[bool]:
        if self.time_field is None:
            raise ProviderInvalidQueryError("Diese Sammlung hat kein Zeitfeld")
        column = self.table.c[self.time_field]
        if "/" not in value:
            return column == _instant(value)
        begin, end = value.split("/")
        if begin in ("..", ""):
            return column <= _instant(end)
        if end in ("..", ""):
            return column >= _instant(begin)
        return column.between(_instant(begin), _instant(end))

    def _order(self, sortby: tuple[tuple[str, str], ...]) -> list[ColumnElement[Any]]:
        t = self.table
        order = [t.c[name].desc() if sign == "-" else t.c[name].asc() for name, sign in sortby]
        # the id last, so that pages are stable under any sort
        return [*order, t.c[self.id_field].asc()]

    def _count(
        self, conn: Connection, conditions: list[ColumnElement[bool]], *, exact: bool
    ) -> int | None:
        if not self.count and not exact:
            return None
        statement: Select[int] = select(func.count()).select_from(self.table).where(*conditions)
        if not conditions:
            key = (self.database, self.table_name, self.version)
            if key not in _COUNTS or not self.version:
                _COUNTS[key] = int(conn.execute(statement).scalar_one())
            return _COUNTS[key]
        if not exact and self._estimate(conn, conditions) > EXACT_COUNT_LIMIT:
            return None
        return int(conn.execute(statement).scalar_one())

    def _estimate(self, conn: Connection, conditions: list[ColumnElement[bool]]) -> float:
        """The planner's estimate of the rows a filter matches (no rows are read)."""
        rows: Select[Any] = select(literal_column("1")).select_from(self.table).where(*conditions)
        compiled = rows.compile(dialect=conn.dialect)
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params)
        return float(plan.scalar_one()[0]["Plan"]["Plan Rows"])

    def _typed(self, name: str, value: str) -> Any:
        """A query string value as the column's type, or None when it cannot be one."""
        kind = self.column_types.get(name)
        try:
            if kind in ("int2", "int4", "int8"):
                return int(value)
            if kind in ("float4", "float8", "numeric"):
                return float(value)
            if kind == "bool":
                return str2bool(value)
            if kind == "date":
                return date.fromisoformat(value)
            if kind in ("timestamp", "timestamptz"):
                return _instant(value)
        except ValueError:
            return None
        return value


def _text(constant: str) -> ColumnElement[str]:
    """A string constant in the SQL text (not a parameter: PostgreSQL must know its type
    inside `json_build_object`)."""
    return literal_column("'" + constant.replace("'", "''") + "'", Text)


def _instant(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise ProviderInvalidQueryError(f"'{value}' ist kein Zeitpunkt nach RFC 3339") from e


def _batches(conn: Connection, rows: Any) -> Iterator[list[str]]:
    """Rows from the server-side cursor in batches; closes the connection at the end or when
    the consumer stops early (a client that went away)."""
    try:
        while batch := rows.fetchmany(FETCH_ROWS):
            yield batch
    finally:
        conn.close()
