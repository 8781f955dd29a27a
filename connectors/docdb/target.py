"""DocumentDB as a target: MongoDB's."""

from connectors.mongodb.target import MongoTarget as DocdbTarget

__all__ = ["DocdbTarget"]
