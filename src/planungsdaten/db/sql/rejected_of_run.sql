SELECT record_ref, reason, record FROM rejected_record
WHERE harvest_run_id = :run_id ORDER BY id LIMIT :limit
