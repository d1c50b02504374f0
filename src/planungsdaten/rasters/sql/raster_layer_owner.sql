-- Another source whose current raster already has this layer name (the collection id).
SELECT v.source_id
FROM raster_version r
JOIN dataset_version v ON v.id = r.dataset_version_id AND v.status = 'current'
WHERE r.layer = :layer AND v.source_id <> :source_id
LIMIT 1
