"""DMS's DocDbSettings: MongoDbSettings less the MongoDB-only authentication keys (ExtractDocId a bool,
DocsToInvestigate a number)."""

from connectors.mongodb.settings import MONGO_DB_SETTINGS
from connectors.settings_object import SettingsObject

MONGO_ONLY = ("AuthType", "AuthMechanism", "AuthSource")
DOC_DB_SETTINGS = SettingsObject("DocDbSettings", "doc-db-settings",
                                 tuple(k for k in MONGO_DB_SETTINGS.keys if k.name not in MONGO_ONLY))
