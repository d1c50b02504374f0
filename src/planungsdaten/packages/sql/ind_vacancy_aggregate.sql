-- published vacancy counts of the 100 m cells whose centre lies in the region
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom)
SELECT coalesce(sum(vacant_total), 0) AS n, count(*) AS cells
FROM (SELECT DISTINCT ON (g.unit_id) g.vacant_total, g.geom
      FROM vacancy_aggregate g, area a
      WHERE g.unit = 'grid_100m' AND g.geom && a.geom
        AND ST_Intersects(ST_Centroid(g.geom), a.geom)
      ORDER BY g.unit_id, g.dataset_version_id DESC) c
