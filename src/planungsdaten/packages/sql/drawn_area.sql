-- a drawn area in EPSG:25832 with the municipalities it overlaps, largest overlap first
WITH area AS (
    SELECT ST_Multi(ST_Transform(ST_SetSRID(ST_GeomFromWKB(:wkb), :srid), 25832)) AS geom
),
hits AS (
    SELECT DISTINCT ON (m.ags) m.ags, coalesce(m.name, m.ags) AS name,
           ST_Area(ST_Intersection(m.geom, a.geom)) AS overlap
    FROM municipality m, area a
    WHERE m.geom && a.geom AND ST_Intersects(m.geom, a.geom)
    ORDER BY m.ags, m.dataset_version_id DESC
)
SELECT ST_AsBinary(a.geom) AS wkb, ST_Area(a.geom) AS area_m2, ST_IsValid(a.geom) AS valid,
       coalesce((SELECT array_agg(ags ORDER BY overlap DESC, ags) FROM hits WHERE overlap > 0),
                '{}') AS ags,
       coalesce((SELECT array_agg(name ORDER BY overlap DESC, ags) FROM hits WHERE overlap > 0),
                '{}') AS names
FROM area a
