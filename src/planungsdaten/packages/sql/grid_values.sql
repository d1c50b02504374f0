-- the values of those cells, every indicator; reference date per indicator
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area),
cells AS (
    SELECT DISTINCT c.cell_id, c.dataset_version_id
    FROM grid_cell c JOIN parts t ON c.geom && t.geom AND ST_Relate(c.geom, t.geom, 'T********')
    WHERE c.resolution_m = :resolution
)
SELECT v.cell_id, v.indicator, v.value, v.flag, v.reference_date, v.dataset_version_id
FROM cells c JOIN grid_value v
  ON v.cell_id = c.cell_id AND v.dataset_version_id = c.dataset_version_id
ORDER BY v.cell_id, v.indicator, v.dataset_version_id
