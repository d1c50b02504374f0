SELECT id, target_table, layer, status, feature_count, checksum_sha256, created_at,
       published_at
FROM dataset_version
WHERE source_id = :source_id
ORDER BY id DESC
