-- Gebäude overlapping the area, whole (not clipped)
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area),
hit AS (
    SELECT DISTINCT b.source_object_id AS k, b.dataset_version_id AS v
    FROM building b JOIN parts t ON b.geom && t.geom AND ST_Relate(b.geom, t.geom, 'T********')
)
SELECT b.source_object_id AS objekt_id, b.function_code AS funktion,
       b.function_name AS funktion_name, b.storeys AS geschosse, b.name,
       b.location_text AS lage, ST_AsBinary(b.geom) AS wkb
FROM hit h JOIN building b ON b.source_object_id = h.k AND b.dataset_version_id = h.v
ORDER BY b.source_object_id, b.dataset_version_id
