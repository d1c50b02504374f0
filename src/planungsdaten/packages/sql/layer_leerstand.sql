-- the vacancy register itself (personal data): only municipalities the caller may see
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area)
SELECT DISTINCT ON (v.source_object_id, v.dataset_version_id)
       v.source_object_id AS lfd_nr, v.street AS strasse, v.house_number AS hausnummer,
       v.house_number_suffix AS zusatz, v.parcel_ref AS flurstueck, v.use AS nutzung,
       v.status, v.vacant_since::text AS leer_seit, v.floor_area AS flaeche_m2,
       v.remarks AS bemerkung, v.location_method AS verortung, ST_AsBinary(v.geom) AS wkb
FROM vacancy v JOIN parts t ON v.geom && t.geom AND ST_Intersects(v.geom, t.geom)
WHERE v.ags = ANY(:ags)
ORDER BY v.source_object_id, v.dataset_version_id
