-- count stations in or near the region, the latest year of each
WITH area AS (SELECT ST_GeomFromWKB(:area, 25832) AS geom),
latest AS (
    SELECT DISTINCT ON (c.station_id) c.station_id, c.year, c.dtv_kfz, c.dtv_sv
    FROM traffic_count c, area a
    WHERE ST_DWithin(c.geom, a.geom, :radius)
    ORDER BY c.station_id, c.year DESC NULLS LAST, c.dataset_version_id DESC
)
SELECT count(*) AS n, max(dtv_kfz) AS dtv_max, avg(dtv_kfz) AS dtv_mean,
       100.0 * sum(dtv_sv) FILTER (WHERE dtv_kfz IS NOT NULL)
             / nullif(sum(dtv_kfz) FILTER (WHERE dtv_sv IS NOT NULL), 0) AS sv_share,
       min(year) AS year_min, max(year) AS year_max
FROM latest
