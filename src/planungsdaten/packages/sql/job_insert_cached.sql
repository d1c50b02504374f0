-- a caller's request answered by an existing package: a finished copy of its job
INSERT INTO package_job (id, owner, cache_key, request, area_name, area, ags, restricted_ags,
                         versions, status, progress, step, cached_from, file_name, file_size,
                         file_sha256, started_at, finished_at, client_address)
SELECT :id, :owner, cache_key, request, area_name, area, ags, restricted_ags, versions,
       'succeeded', 100, 'fertig (bereits vorhanden)', id, file_name, file_size, file_sha256,
       now(), now(), CAST(:client AS inet)
FROM package_job WHERE id = :from
RETURNING id
