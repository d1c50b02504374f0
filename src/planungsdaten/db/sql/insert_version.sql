INSERT INTO dataset_version (source_id, target_table, layer, status, checksum_sha256,
                             definition_sha256, raw_path)
VALUES (:source_id, :target_table, :layer, 'loading', :checksum, :definition_sha256, :raw_path)
RETURNING id
