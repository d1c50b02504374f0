INSERT INTO source (id, title, description, publisher, licence, attribution, access,
                    hvd_category, schedule, definition, definition_path)
VALUES (:id, :title, :description, :publisher, :licence, :attribution, :access,
        :hvd_category, :schedule, CAST(:definition AS jsonb), :definition_path)
ON CONFLICT (id) DO UPDATE SET
    title = EXCLUDED.title, description = EXCLUDED.description,
    publisher = EXCLUDED.publisher, licence = EXCLUDED.licence,
    attribution = EXCLUDED.attribution, access = EXCLUDED.access,
    hvd_category = EXCLUDED.hvd_category, schedule = EXCLUDED.schedule,
    definition = EXCLUDED.definition, definition_path = EXCLUDED.definition_path,
    updated_at = CASE WHEN source.definition IS DISTINCT FROM EXCLUDED.definition
                        OR source.access IS DISTINCT FROM EXCLUDED.access
                      THEN now() ELSE source.updated_at END
