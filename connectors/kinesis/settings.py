"""DMS's KinesisSettings, as `dms endpoint create --kinesis-settings` takes them, and OpenDMS's EndpointUrl."""

from connectors.settings_object import Key, SettingsObject

KINESIS_SETTINGS = SettingsObject("KinesisSettings", "kinesis-settings", (
    Key("StreamArn"),
    Key("MessageFormat", default="json", choices=("json", "json-unformatted")),
    Key("ServiceAccessRoleArn"),  # accepted as DMS's; credentials come from boto3's chain (docs/engines/kinesis.md)
    Key("IncludeTransactionDetails", bool, False),
    Key("IncludePartitionValue", bool, False),
    Key("PartitionIncludeSchemaTable", bool, False),
    Key("IncludeTableAlterOperations", bool, False),
    Key("IncludeControlDetails", bool, False),
    Key("IncludeNullAndEmpty", bool, False),
    Key("NoHexPrefix", bool, False),
    Key("UseLargeIntegerValue", bool, False),
    # OpenDMS's own: the address of an API-compatible server (DMS has none; the same key serves S3 and DynamoDB).
    Key("EndpointUrl", ours=True),
))
