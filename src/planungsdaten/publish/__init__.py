"""Publishing: OGC API (pygeoapi, mounted), later the DCAT-AP.de catalogue and downloads."""
