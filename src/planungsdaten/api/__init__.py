"""HTTP API (/api, /health): thin routers over the library code."""
