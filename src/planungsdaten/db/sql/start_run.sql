INSERT INTO harvest_run (source_id, status) VALUES (:source_id, 'running') RETURNING id
