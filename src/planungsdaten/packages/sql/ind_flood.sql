-- flood zones inside the region per scenario (the union of its zones, so overlapping hazard
-- areas and Überschwemmungsgebiete count once): their area, the buildings touching them and
-- the residents of the Zensus cells, each cell weighted by its share in zone ∩ region
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
zones AS (
    SELECT s.scenario, ST_CollectionExtract(ST_Intersection(s.u, a.geom), 3) AS geom
    FROM (SELECT z.scenario, ST_Union(z.geom) AS u
          FROM flood_zone z, area a
          WHERE z.geom && a.geom AND ST_Intersects(z.geom, a.geom)
          GROUP BY z.scenario) s, area a
),
parts AS (SELECT scenario, ST_Subdivide(geom, 256) AS geom FROM zones WHERE NOT ST_IsEmpty(geom)),
buildings AS (
    SELECT p.scenario, count(DISTINCT (b.source_object_id, b.dataset_version_id)) AS n
    FROM parts p JOIN building b ON b.geom && p.geom AND ST_Intersects(b.geom, p.geom)
    GROUP BY p.scenario
),
residents AS (
    SELECT p.scenario,
           sum(coalesce(v.value, 0) * ST_Area(ST_Intersection(c.geom, p.geom)) / ST_Area(c.geom))
               AS n,
           array_agg(DISTINCT v.dataset_version_id) AS versions
    FROM parts p
    JOIN grid_cell c ON c.geom && p.geom AND ST_Intersects(c.geom, p.geom)
    JOIN grid_value v ON v.cell_id = c.cell_id AND v.dataset_version_id = c.dataset_version_id
    WHERE c.resolution_m = :resolution AND v.indicator = 'einwohner'
    GROUP BY p.scenario
)
SELECT z.scenario, ST_Area(z.geom) AS zone_m2, coalesce(b.n, 0) AS buildings, r.n AS residents,
       r.versions AS grid_versions
FROM zones z LEFT JOIN buildings b USING (scenario) LEFT JOIN residents r USING (scenario)
ORDER BY z.scenario
