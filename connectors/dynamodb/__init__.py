"""Amazon DynamoDB as a target (keyed), through boto3: a table per source table keyed by its primary key
(partition key, and sort key for a key of two columns) or as DMS's object-mapping rules say (mapping.py),
items written by BatchWriteItem. Settings: DMS's
DynamoDbSettings plus OpenDMS's EndpointUrl and Region (``--dynamo-db-settings``). See docs/engines/dynamodb.md.
"""

TARGET = "target:DynamoTarget"
SETTINGS = "settings:DYNAMO_DB_SETTINGS"
PORT = 0
