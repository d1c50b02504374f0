UPDATE harvest_run
SET status = 'failed', finished_at = now(),
    message = 'Lauf wurde abgebrochen (Prozess beendet); nichts davon wurde übernommen',
    records_loaded = 0
WHERE source_id = :source_id AND status = 'running' AND id <> :run_id
