"""Database layer: engine, managed cluster, migrations, tables, bulk COPY."""
