-- Open datasets with a current version, one row per canonical table: licences and
-- attributions of every contributing source, and the union of their extents in CRS84
-- (the envelope is densified first so that its curved image in lon/lat stays covered).
-- A vacancy register is personal data: whatever its source, only its aggregate
-- (`vacancy_aggregate`) is published, never the `vacancy` table itself.
WITH published AS (
    SELECT s.id, s.licence, s.attribution, v.feature_count, v.published_at, v.extent,
           CASE WHEN v.target_table = 'vacancy' THEN 'vacancy_aggregate'
                ELSE v.target_table END AS target_table
    FROM source s
    JOIN dataset_version v ON v.source_id = s.id AND v.status = 'current'
    WHERE s.access = 'open' OR v.target_table = 'vacancy'
),
per_table AS (
    SELECT v.target_table,
           array_agg(DISTINCT v.licence) AS licences,
           array_agg(DISTINCT v.attribution) AS attributions,
           array_agg(DISTINCT v.id) AS source_ids,
           sum(v.feature_count)::bigint AS feature_count,
           max(v.published_at) AS published_at,
           ST_Transform(
               ST_Segmentize(ST_SetSRID(ST_Extent(v.extent)::geometry, 25832), 1000), 4326
           ) AS e
    FROM published v
    GROUP BY v.target_table
)
SELECT target_table, licences, attributions, source_ids, feature_count, published_at,
       ST_XMin(e) AS xmin, ST_YMin(e) AS ymin, ST_XMax(e) AS xmax, ST_YMax(e) AS ymax
FROM per_table
ORDER BY target_table
