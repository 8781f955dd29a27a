"""SQLite files: the endpoint's database is the file's path (see connectors/registry.py).

As a source: tables of the main database, snapshots in one read transaction, change capture by
triggers into a change log per task. As a target: batched inserts and idempotent upserts, in WAL mode.
"""

SOURCE = "source:SqliteSource"
TARGET = "target:SqliteTarget"
PORT = 0
TYPES = "types:TYPES"
