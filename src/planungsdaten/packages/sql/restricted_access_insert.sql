INSERT INTO restricted_access_log (subject, role, package_job_id, ags, layers, area_name,
                                   client_address)
VALUES (:subject, :role, :job, :ags, :layers, :area_name, CAST(:client AS inet))
