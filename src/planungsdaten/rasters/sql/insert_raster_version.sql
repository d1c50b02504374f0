INSERT INTO raster_version (dataset_version_id, layer, path, width, height, resolution_m, bands,
                            nodata, dtype, size_bytes, sha256, footprint)
VALUES (:version_id, :layer, :path, :width, :height, :resolution_m, CAST(:bands AS jsonb),
        :nodata, :dtype, :size_bytes, :sha256, ST_GeomFromText(:footprint, 25832))
