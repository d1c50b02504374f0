-- waiting jobs, oldest first; running ones too (their worker may have died: the caller
-- tries each one's advisory lock)
SELECT id, attempts, cache_key, ST_AsBinary(area) AS wkb, ST_Area(area) AS area_m2
FROM package_job
WHERE status IN ('queued', 'running') AND (CAST(:id AS uuid) IS NULL OR id = CAST(:id AS uuid))
ORDER BY created_at, id
LIMIT 20
FOR UPDATE SKIP LOCKED
