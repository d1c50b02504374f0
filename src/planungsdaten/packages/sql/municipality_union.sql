-- the municipalities as one geometry: the region the area is compared with
SELECT ST_AsBinary(ST_Multi(ST_Union(geom))) AS wkb
FROM (SELECT DISTINCT ON (ags) geom FROM municipality WHERE ags = ANY(:ags)
      ORDER BY ags, dataset_version_id DESC) m
