-- parcels overlapping the region: count, official area, area inside the region
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
parts AS (SELECT ST_Subdivide(geom, 256) AS geom FROM area),
hit AS (
    SELECT x.flurstueckskennzeichen AS k, x.dataset_version_id AS v, sum(CASE WHEN ST_Within(x.geom, t.geom) THEN ST_Area(x.geom)
                ELSE ST_Area(ST_Intersection(x.geom, t.geom)) END) AS inside
    FROM parcel x JOIN parts t ON x.geom && t.geom AND ST_Relate(x.geom, t.geom, 'T********')
    GROUP BY 1, 2
)
SELECT count(*) AS n, sum(p.amtliche_flaeche) AS official_m2, sum(h.inside) AS inside_m2
FROM hit h JOIN parcel p ON p.flurstueckskennzeichen = h.k AND p.dataset_version_id = h.v
