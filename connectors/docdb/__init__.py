"""Amazon DocumentDB (engine docdb): the MongoDB engine (connectors/mongodb/) under DocumentDB's name and its
settings object, DMS's DocDbSettings (``--doc-db-settings``). See docs/engines/mongodb.md."""

SOURCE = "source:DocdbSource"
TARGET = "target:DocdbTarget"
SETTINGS = "settings:DOC_DB_SETTINGS"
PORT = 27017
