SELECT id, source_id, status, started_at, finished_at, records_read, records_loaded,
       records_rejected, records_repaired, records_skipped, dataset_version_ids, message
FROM harvest_run
WHERE CAST(:source_id AS text) IS NULL OR source_id = :source_id
ORDER BY id DESC
LIMIT :limit
