-- a municipality as a package area (the newest version, should two sources hold it)
SELECT DISTINCT ON (ags) name, ST_AsBinary(ST_Multi(geom)) AS wkb, ST_Area(geom) AS area_m2
FROM municipality
WHERE ags = :ags
ORDER BY ags, dataset_version_id DESC
