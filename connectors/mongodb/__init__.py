"""MongoDB (and Amazon DocumentDB, engine alias docdb) through pymongo: a source in DMS's document mode
(NestingLevel none: each collection a table of ``_id`` + ``_doc``) or table mode (NestingLevel one: fields
as columns), with change data capture from change streams; and a keyed target (documents upserted and
deleted by ``_id``). Settings: DMS's MongoDbSettings (``--mongo-db-settings``). See docs/engines/mongodb.md.
"""

SOURCE = "source:MongoSource"
TARGET = "target:MongoTarget"
SETTINGS = "settings:MONGO_DB_SETTINGS"
PORT = 27017
