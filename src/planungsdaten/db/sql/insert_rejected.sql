INSERT INTO rejected_record (harvest_run_id, record_ref, reason, record)
VALUES (:run_id, :ref, :reason, CAST(:record AS jsonb))
