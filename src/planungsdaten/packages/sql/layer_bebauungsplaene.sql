-- development plans overlapping the area, whole
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area),
hit AS (
    SELECT DISTINCT p.source_object_id AS k, p.dataset_version_id AS v
    FROM development_plan p
    JOIN parts t ON p.geom && t.geom AND ST_Relate(p.geom, t.geom, 'T********')
)
SELECT p.source_object_id AS objekt_id, p.name, p.number AS nummer,
       coalesce(p.plan_art_name, p.plan_type) AS planart,
       coalesce(p.legal_status_name, p.legal_status) AS rechtsstand,
       p.in_force_date::text AS in_kraft_seit, p.municipality_name AS gemeinde,
       array_to_string(p.document_urls, ' ') AS dokumente, ST_AsBinary(p.geom) AS wkb
FROM hit h JOIN development_plan p ON p.source_object_id = h.k AND p.dataset_version_id = h.v
ORDER BY p.source_object_id, p.dataset_version_id
