-- located vacancy register entries in the region (only municipalities the caller may see)
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area)
SELECT count(*) AS n
FROM vacancy x JOIN parts t ON x.geom && t.geom AND ST_Intersects(x.geom, t.geom)
WHERE x.ags = ANY(:ags)
