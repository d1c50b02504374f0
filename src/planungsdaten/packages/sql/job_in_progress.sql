SELECT id FROM package_job
WHERE cache_key = :key AND owner = :owner AND status IN ('queued', 'running')
ORDER BY created_at
LIMIT 1
