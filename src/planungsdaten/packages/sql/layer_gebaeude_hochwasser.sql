-- buildings touching a flood zone inside the area (whole, not clipped), with the scenarios
-- whose zones they touch there
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (
    SELECT z.scenario,
           ST_Subdivide(ST_CollectionExtract(ST_Intersection(z.geom, a.geom), 3), 256) AS geom
    FROM flood_zone z, area a
    WHERE z.geom && a.geom AND ST_Intersects(z.geom, a.geom)
),
hit AS (
    SELECT b.source_object_id AS k, b.dataset_version_id AS v,
           bool_or(p.scenario = 'HQhaeufig') AS haeufig, bool_or(p.scenario = 'HQ100') AS hq100,
           bool_or(p.scenario = 'HQextrem') AS extrem
    FROM parts p JOIN building b ON b.geom && p.geom AND ST_Intersects(b.geom, p.geom)
    GROUP BY 1, 2
)
SELECT b.source_object_id AS objekt_id, b.function_code AS funktion,
       b.function_name AS funktion_name, b.location_text AS lage,
       CASE WHEN h.haeufig THEN 'HQhaeufig' WHEN h.hq100 THEN 'HQ100' ELSE 'HQextrem' END
           AS szenario,
       h.haeufig AS in_hqhaeufig, h.hq100 AS in_hq100, h.extrem AS in_hqextrem,
       ST_AsBinary(b.geom) AS wkb
FROM hit h JOIN building b ON b.source_object_id = h.k AND b.dataset_version_id = h.v
ORDER BY b.source_object_id, b.dataset_version_id
