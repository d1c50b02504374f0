-- Flurstücke overlapping the area (not merely touching it), with the share inside it
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area),
hit AS (
    SELECT p.flurstueckskennzeichen AS k, p.dataset_version_id AS v,
           sum(CASE WHEN ST_Within(p.geom, t.geom) THEN ST_Area(p.geom)
                    ELSE ST_Area(ST_Intersection(p.geom, t.geom)) END) AS inside
    FROM parcel p JOIN parts t ON p.geom && t.geom AND ST_Relate(p.geom, t.geom, 'T********')
    GROUP BY 1, 2
)
SELECT p.flurstueckskennzeichen, p.gemarkung, p.gemarkung_name, p.flur, p.zaehler, p.nenner,
       p.amtliche_flaeche AS amtliche_flaeche_m2, p.location_text AS lage,
       least(100.0, 100.0 * h.inside / nullif(ST_Area(p.geom), 0)) AS anteil_im_gebiet_prozent,
       h.inside AS flaeche_im_gebiet_m2, ST_AsBinary(p.geom) AS wkb
FROM hit h JOIN parcel p ON p.flurstueckskennzeichen = h.k AND p.dataset_version_id = h.v
ORDER BY p.flurstueckskennzeichen, p.dataset_version_id
