-- Held until the end of the transaction: one writer of a dataset's downloads (or of the
-- index) at a time, across processes and machines.
SELECT pg_advisory_xact_lock(hashtext(:key))
