INSERT INTO repaired_record (harvest_run_id, record_ref, reason)
VALUES (:run_id, :ref, :reason)
