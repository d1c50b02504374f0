-- count stations in the area or within :radius metres of it, every year loaded
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area)
SELECT c.station_id AS zaehlstelle, c.name, c.road AS strasse, c.road_class AS strassenklasse,
       c.year AS jahr, c.dtv_kfz, c.dtv_sv, c.sv_share_pct AS sv_anteil_prozent,
       c.counter AS quelle,
       CASE WHEN ST_Intersects(c.geom, a.geom) THEN 'im Gebiet' ELSE 'Umgebung' END AS lage,
       round(ST_Distance(c.geom, a.geom)::numeric, 1)::double precision AS abstand_m,
       ST_AsBinary(c.geom) AS wkb
FROM traffic_count c, area a
WHERE ST_DWithin(c.geom, a.geom, :radius)
ORDER BY c.station_id, c.year, c.dataset_version_id
