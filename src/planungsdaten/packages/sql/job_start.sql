UPDATE package_job
SET status = 'running', attempts = attempts + 1, worker = :worker, started_at = now(),
    progress = 0, step = 'wird gestartet', error = NULL
WHERE id = :id
