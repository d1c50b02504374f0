-- The extent of the loaded municipalities (EPSG:25832): where rasters are expected.
SELECT ST_XMin(e) AS xmin, ST_YMin(e) AS ymin, ST_XMax(e) AS xmax, ST_YMax(e) AS ymax
FROM (SELECT ST_Extent(geom) AS e FROM municipality) m
