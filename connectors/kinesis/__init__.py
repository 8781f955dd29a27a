"""Amazon Kinesis Data Streams as a target, of the append kind: one record per row change in DMS's JSON layout
(connectors/streams/records.py, shared with Kafka), partition keys as DMS chooses them, batched PutRecords
retrying only the failed entries; at least once, with the source position in every record. Endpoint
settings: DMS's KinesisSettings (``--kinesis-settings``) and our own key EndpointUrl; AWS credentials from
boto3's usual chain. See docs/engines/kinesis.md.
"""

TARGET = "target:KinesisTarget"
SETTINGS = "settings:KINESIS_SETTINGS"
PORT = 0
