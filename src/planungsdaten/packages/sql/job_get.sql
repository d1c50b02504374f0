SELECT id, owner, status, progress, step, request, area_name, ags, restricted_ags, attempts,
       cached_from, file_name, file_size, file_sha256, error, created_at, started_at, finished_at,
       cache_key, ST_AsBinary(area) AS wkb, ST_Area(area) AS area_m2
FROM package_job WHERE id = :id
