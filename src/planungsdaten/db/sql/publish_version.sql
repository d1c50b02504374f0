UPDATE dataset_version
SET status = 'current', published_at = now(), feature_count = :feature_count,
    extent = CAST(:extent AS geometry)
WHERE id = :version_id
