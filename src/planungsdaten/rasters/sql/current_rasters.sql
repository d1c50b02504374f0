-- Current raster versions with what readers need of their source; :access NULL means all.
SELECT r.dataset_version_id AS version_id, v.source_id, r.layer, s.title, s.description,
       r.path, r.bands, r.nodata, r.resolution_m, r.dtype, s.licence, s.attribution,
       s.access, ST_AsBinary(r.footprint) AS footprint, v.published_at, r.width, r.height,
       r.size_bytes, r.sha256, s.hvd_category
FROM raster_version r
JOIN dataset_version v ON v.id = r.dataset_version_id AND v.status = 'current'
JOIN source s ON s.id = v.source_id
WHERE CAST(:access AS text) IS NULL OR s.access = CAST(:access AS text)
ORDER BY r.layer
