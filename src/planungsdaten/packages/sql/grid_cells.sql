-- Zensus grid cells of one resolution overlapping the area: the share of each inside it
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area)
SELECT c.cell_id, c.dataset_version_id,
       least(1.0, sum(CASE WHEN ST_Within(c.geom, t.geom) THEN ST_Area(c.geom)
                           ELSE ST_Area(ST_Intersection(c.geom, t.geom)) END)
                  / ST_Area(c.geom)) AS share,
       ST_AsBinary(c.geom) AS wkb
FROM grid_cell c JOIN parts t ON c.geom && t.geom AND ST_Relate(c.geom, t.geom, 'T********')
WHERE c.resolution_m = :resolution
GROUP BY c.cell_id, c.dataset_version_id, c.geom
ORDER BY c.cell_id, c.dataset_version_id
