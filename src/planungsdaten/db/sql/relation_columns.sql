-- the columns of a table or view, in order
SELECT a.attname
FROM pg_attribute a
WHERE a.attrelid = to_regclass(:relation) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
