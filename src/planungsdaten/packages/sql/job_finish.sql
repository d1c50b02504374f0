UPDATE package_job
SET status = 'succeeded', progress = 100, step = 'fertig', cache_key = :key,
    file_name = :file_name, file_size = :size, file_sha256 = :sha256,
    versions = CAST(:versions AS jsonb), finished_at = now()
WHERE id = :id
