-- Columns of a table or view in their order, with type name and category ('A' = array).
SELECT a.attname AS name, t.typname AS type, t.typcategory AS category
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass(:relation) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
