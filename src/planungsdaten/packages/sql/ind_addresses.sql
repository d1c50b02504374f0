-- address points in the region
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area)
SELECT count(*) AS n
FROM address x JOIN parts t ON x.geom && t.geom AND ST_Intersects(x.geom, t.geom)
