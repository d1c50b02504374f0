SELECT record_ref, reason FROM repaired_record
WHERE harvest_run_id = :run_id ORDER BY id LIMIT :limit
