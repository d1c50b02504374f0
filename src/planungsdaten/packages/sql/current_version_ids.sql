SELECT id FROM dataset_version WHERE status = 'current' AND target_table = ANY(:tables)
