-- The current dataset versions behind a published table, from its sources as
-- `published_datasets` lists them: the key of its bulk downloads. A vacancy register's
-- open aggregate carries the register's version ids.
SELECT coalesce(array_agg(id ORDER BY id), '{}') AS version_ids
FROM dataset_version
WHERE status = 'current'
  AND source_id = ANY(:source_ids)
  AND target_table = CASE WHEN :target_table = 'vacancy_aggregate' THEN 'vacancy'
                          ELSE :target_table END
