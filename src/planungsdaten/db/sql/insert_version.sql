INSERT INTO dataset_version (source_id, status, checksum_sha256, definition_sha256, raw_path)
VALUES (:source_id, 'loading', :checksum, :definition_sha256, :raw_path)
RETURNING id
