SELECT 1 FROM dataset_version
WHERE target_table = :target_table AND status = 'current' AND source_id <> :source_id
LIMIT 1
