UPDATE dataset_version SET status = 'superseded'
WHERE source_id = :source_id AND target_table = :target_table AND layer = :layer
  AND status = 'current'
