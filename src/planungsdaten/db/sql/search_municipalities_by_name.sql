-- Name contains the query, folded (case, umlauts and their ae/oe/ue spelling, ß/ss);
-- names starting with it first.
SELECT ags, ars, name, district
FROM municipality
WHERE fold_german(name) LIKE '%' || fold_german(:q) || '%'
ORDER BY (fold_german(name) LIKE fold_german(:q) || '%') DESC, name, ags
LIMIT :limit OFFSET :offset
