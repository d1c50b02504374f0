-- land use inside the region (m²) by group and kind
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area)
SELECT coalesce(x.nutzung_group, 'ohne Angabe') AS grp, x.nutzart, x.name, sum(CASE WHEN ST_Within(x.geom, t.geom) THEN ST_Area(x.geom)
                ELSE ST_Area(ST_Intersection(x.geom, t.geom)) END) AS m2
FROM land_use x JOIN parts t ON x.geom && t.geom AND ST_Intersects(x.geom, t.geom)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
