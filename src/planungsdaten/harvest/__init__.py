"""Harvesting: fetch → parse (stream) → map to the canonical schema → validate → COPY → swap."""
