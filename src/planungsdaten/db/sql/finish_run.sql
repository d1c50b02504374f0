UPDATE harvest_run
SET status = :status, finished_at = now(), checksum_sha256 = :checksum,
    dataset_version_ids = :version_ids, records_read = :read, records_loaded = :loaded,
    records_rejected = :rejected, records_repaired = :repaired, records_skipped = :skipped,
    message = :message, fetch_info = CAST(:fetch_info AS jsonb)
WHERE id = :run_id
