-- The declared geometry type of a column ('MULTIPOLYGON', 'POINT', …; 'GEOMETRY' if mixed).
SELECT type FROM geometry_columns
WHERE f_table_schema = current_schema() AND f_table_name = :relation
  AND f_geometry_column = :column
