-- flood hazard areas and Überschwemmungsgebiete clipped to the area, most frequent scenario first
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
clipped AS (
    SELECT z.source_object_id, z.scenario, z.kind, z.name, z.water_body, z.depth_class,
           CASE WHEN ST_Within(z.geom, a.geom) THEN z.geom
                ELSE ST_Multi(ST_CollectionExtract(ST_Intersection(z.geom, a.geom), 3)) END AS geom
    FROM flood_zone z, area a
    WHERE z.geom && a.geom AND ST_Relate(z.geom, a.geom, 'T********')
)
SELECT source_object_id AS objekt_id, scenario AS szenario, kind AS art, name,
       water_body AS gewaesser, depth_class AS wassertiefe, ST_Area(geom) AS flaeche_m2,
       ST_AsBinary(geom) AS wkb
FROM clipped
WHERE NOT ST_IsEmpty(geom)
ORDER BY array_position(ARRAY['HQhaeufig', 'HQ100', 'HQextrem'], scenario), source_object_id,
         ST_XMin(geom), ST_YMin(geom)
