-- Hausnummern (address points) inside the area
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area)
SELECT DISTINCT ON (d.street, d.house_number, d.house_number_suffix, d.source_object_id, ST_X(d.geom), ST_Y(d.geom))
       d.street AS strasse, d.house_number AS hausnummer, d.house_number_suffix AS zusatz,
       d.postcode AS postleitzahl, d.place AS ort, ST_AsBinary(d.geom) AS wkb
FROM address d JOIN parts t ON d.geom && t.geom AND ST_Intersects(d.geom, t.geom)
ORDER BY d.street, d.house_number, d.house_number_suffix, d.source_object_id,
         ST_X(d.geom), ST_Y(d.geom)
