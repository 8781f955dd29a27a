"""DMS's DynamoDbSettings (ServiceAccessRoleArn, its only member) and OpenDMS's own keys."""

from connectors.settings_object import Key, SettingsObject

DYNAMO_DB_SETTINGS = SettingsObject("DynamoDbSettings", "dynamo-db-settings", (
    Key("ServiceAccessRoleArn"),  # accepted as DMS's; credentials come from boto3's usual chain
    # OpenDMS's own: an API-compatible server's address (the same key as for S3 and Kinesis), and the region.
    Key("EndpointUrl", ours=True),
    Key("Region", ours=True),
))
