"""DMS's MongoDbSettings, as `dms endpoint create --mongo-db-settings` takes them (connectors/settings_object.py)."""

from __future__ import annotations

from connectors.settings_object import Key, SettingsObject

MONGO_DB_SETTINGS = SettingsObject("MongoDbSettings", "mongo-db-settings", (
    Key("ServerName", field="host"),
    Key("Port", int, field="port"),
    Key("DatabaseName", field="database"),
    Key("Username", field="user"),
    Key("Password", field="password"),
    Key("AuthType", default="password", choices=("no", "password")),
    Key("AuthMechanism", default="default", choices=("default", "mongodb_cr", "scram_sha_1")),
    Key("AuthSource", default="admin"),
    Key("NestingLevel", default="none", choices=("none", "one")),
    Key("ExtractDocId", bool, default=False),
    Key("DocsToInvestigate", int, default=1000),
    Key("UseUpdateLookUp", bool, default=True),
    Key("ReplicateShardCollections", bool, default=False),
    Key("KmsKeyId"),
    Key("SecretsManagerAccessRoleArn"),
    Key("SecretsManagerSecretId"),
))
