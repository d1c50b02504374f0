SELECT ags, ars, name, district
FROM municipality
ORDER BY ags
LIMIT :limit OFFSET :offset
