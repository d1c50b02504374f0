-- Up to 8 digits: AGS prefix; 9 to 12 digits: ARS prefix.
SELECT ags, ars, name, district
FROM municipality
WHERE (length(:q) <= 8 AND ags LIKE :q || '%')
   OR (length(:q) > 8 AND ars LIKE :q || '%')
ORDER BY ags
LIMIT :limit OFFSET :offset
