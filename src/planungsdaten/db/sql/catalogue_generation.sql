-- Changes whenever a dataset version is published or a source definition changes.
SELECT (SELECT coalesce(max(id), 0) FROM dataset_version WHERE status = 'current') AS version,
       (SELECT max(updated_at) FROM source) AS sources
