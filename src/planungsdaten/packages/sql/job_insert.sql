INSERT INTO package_job (id, owner, cache_key, request, area_name, area, ags, restricted_ags,
                         versions, client_address)
VALUES (:id, :owner, :key, CAST(:request AS jsonb), :area_name, ST_GeomFromWKB(:wkb, 25832),
        :ags, :restricted, CAST(:versions AS jsonb),
        CAST(:client AS inet))
RETURNING id
