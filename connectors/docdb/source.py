"""DocumentDB as a source: MongoDB's (DocumentDB speaks its protocol, change streams included)."""

from connectors.mongodb.source import MongoSource as DocdbSource

__all__ = ["DocdbSource"]
