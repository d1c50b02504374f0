-- Bulk exports and waits for a lock may outlast the service's statement timeout.
SELECT set_config('statement_timeout', '0', true)
