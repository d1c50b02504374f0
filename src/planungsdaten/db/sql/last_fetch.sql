-- What the previous successful fetch returned, for conditional GETs.
SELECT fetch_info
FROM harvest_run
WHERE source_id = :source_id AND status IN ('succeeded', 'unchanged') AND fetch_info IS NOT NULL
ORDER BY id DESC
LIMIT 1
