UPDATE harvest_run
SET status = :status, finished_at = now(), checksum_sha256 = :checksum,
    dataset_version_id = :version_id, records_read = :read, records_loaded = :loaded,
    records_rejected = :rejected, records_skipped = :skipped, message = :message
WHERE id = :run_id
