-- the boundaries of the municipalities the area lies in
SELECT DISTINCT ON (ags) ags, name, district AS kreis, ST_AsBinary(geom) AS wkb
FROM municipality
WHERE ags = ANY(:ags)
ORDER BY ags, dataset_version_id DESC
