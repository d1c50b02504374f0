"""Readers for source formats that GDAL cannot read here (ALKIS NAS)."""
