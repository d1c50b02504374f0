-- development plans overlapping the region; those in force and their area inside it
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area),
plans AS (
    SELECT DISTINCT ON (p.source_object_id, p.dataset_version_id) p.geom,
           (p.legal_status IN ('4000', '4500') OR p.legal_status_name ILIKE 'inkraft%'
            OR (p.legal_status IS NULL AND p.in_force_date IS NOT NULL)) AS in_force
    FROM development_plan p, area a
    WHERE p.geom && a.geom AND ST_Relate(p.geom, a.geom, 'T********')
)
SELECT count(*) AS n, count(*) FILTER (WHERE in_force) AS n_in_force,
       coalesce(ST_Area(ST_Intersection(ST_Union(geom) FILTER (WHERE in_force),
                                        (SELECT geom FROM area))), 0) AS in_force_m2
FROM plans
