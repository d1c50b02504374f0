SELECT id, target_table, layer, checksum_sha256, definition_sha256
FROM dataset_version
WHERE source_id = :source_id AND status = 'current'
