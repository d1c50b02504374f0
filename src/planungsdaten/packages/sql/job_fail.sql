UPDATE package_job
SET status = 'failed', step = 'fehlgeschlagen', error = :error, finished_at = now()
WHERE id = :id
