-- buildings whose point on surface lies in the region, by function group
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area)
SELECT CASE WHEN x.function_code BETWEEN 1000 AND 1999 THEN 'wohnen'
            WHEN x.function_code BETWEEN 2000 AND 2999 THEN 'wirtschaft'
            WHEN x.function_code BETWEEN 3000 AND 3999 THEN 'oeffentlich'
            ELSE 'sonstige' END AS grp,
       count(*) AS n
FROM building x, area a
WHERE x.geom && a.geom AND ST_Intersects(ST_PointOnSurface(x.geom), a.geom)
GROUP BY 1
