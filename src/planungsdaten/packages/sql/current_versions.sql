-- the dataset versions a package reads, with what has to be cited
SELECT v.id AS version_id, v.source_id, v.target_table, v.layer, v.published_at,
       v.checksum_sha256, v.feature_count, s.title, s.publisher, s.licence, s.attribution,
       s.access
FROM dataset_version v JOIN source s ON s.id = v.source_id
WHERE v.status = 'current' AND v.target_table = ANY(:tables)
ORDER BY v.target_table, v.source_id, v.layer, v.id
