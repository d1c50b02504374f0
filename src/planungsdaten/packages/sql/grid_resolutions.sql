-- the finest resolution each grid indicator is loaded in
SELECT indicator, min(resolution_m) AS resolution_m FROM grid_value GROUP BY indicator
ORDER BY indicator
