-- finished builds with this content (copies point at their original)
SELECT id FROM package_job
WHERE cache_key = :key AND status = 'succeeded' AND cached_from IS NULL
ORDER BY finished_at DESC
