UPDATE dataset_version SET status = 'superseded'
WHERE source_id = :source_id AND status = 'current'
