-- the open vacancy layer: 100 m cells (counts below the threshold never published)
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area)
SELECT DISTINCT ON (g.unit_id, g.dataset_version_id)
       g.unit AS einheit, g.unit_id AS einheit_id, g.vacant_total AS leerstaende,
       g.vacant_residential AS davon_wohnen, g.vacant_commercial AS davon_gewerbe,
       g.vacant_mixed AS davon_gemischt, ST_AsBinary(g.geom) AS wkb
FROM vacancy_aggregate g JOIN parts t ON g.geom && t.geom AND ST_Relate(g.geom, t.geom, 'T********')
WHERE g.unit = 'grid_100m'
ORDER BY g.unit_id, g.dataset_version_id
