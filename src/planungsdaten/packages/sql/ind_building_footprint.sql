-- building footprint inside the region (m²)
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area)
SELECT coalesce(sum(CASE WHEN ST_Within(x.geom, t.geom) THEN ST_Area(x.geom)
                ELSE ST_Area(ST_Intersection(x.geom, t.geom)) END), 0) AS m2
FROM building x JOIN parts t ON x.geom && t.geom AND ST_Intersects(x.geom, t.geom)
