UPDATE package_job
SET status = 'queued', attempts = greatest(attempts - 1, 0), progress = 0, worker = NULL,
    step = 'wartet (der Arbeitsprozess wurde beendet)'
WHERE id = :id AND status = 'running'
