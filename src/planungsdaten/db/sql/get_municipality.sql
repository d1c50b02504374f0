SELECT m.ags, m.ars, m.name, m.district,
       round((ST_Area(m.geom) / 10000)::numeric, 2) AS area_ha,
       ST_AsGeoJSON(ST_Transform(m.geom, 4326), 6) AS geometry,
       ARRAY[ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b)] AS bbox,
       m.dataset_version_id, v.source_id, v.published_at
FROM municipality m
JOIN dataset_version v ON v.id = m.dataset_version_id
CROSS JOIN LATERAL (SELECT ST_Transform(m.geom, 4326)::box2d AS b) AS box
WHERE m.ags = :ags
