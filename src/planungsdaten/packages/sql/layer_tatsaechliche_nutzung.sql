-- tatsächliche Nutzung clipped to the area
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area),
clipped AS (
    SELECT l.source_object_id, l.nutzart, l.name, l.nutzung_group, l.parcel_ref,
           CASE WHEN ST_Within(l.geom, a.geom) THEN l.geom
                ELSE ST_Multi(ST_CollectionExtract(ST_Intersection(l.geom, a.geom), 3)) END AS geom
    FROM land_use l, area a
    WHERE l.geom && a.geom AND ST_Relate(l.geom, a.geom, 'T********')
)
SELECT source_object_id AS objekt_id, nutzart, name AS nutzung, nutzung_group AS gruppe,
       parcel_ref AS flurstueck, ST_Area(geom) AS flaeche_m2, ST_AsBinary(geom) AS wkb
FROM clipped
WHERE NOT ST_IsEmpty(geom)
ORDER BY source_object_id, nutzart, ST_XMin(geom), ST_YMin(geom), ST_Area(geom)
