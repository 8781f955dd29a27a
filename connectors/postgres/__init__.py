"""PostgreSQL: COPY snapshots, pgoutput logical replication, set-based apply (see connectors/registry.py)."""

SOURCE = "source:PostgresSource"
TARGET = "target:PostgresTarget"
PORT = 5432
TYPES = "types:TYPES"
