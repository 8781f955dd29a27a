"""Amazon S3 as a target: a table's full load and its changes as CSV or Parquet files in AWS DMS's layout
(``[BucketFolder/]schema/table/LOAD00000001.csv``, CDC files named by commit time), written through boto3
to Amazon S3 or any S3-compatible store (our own setting ``EndpointUrl``), or to a local folder
(``BucketName`` ``file:///path`` or a path). Settings are DMS's ``S3Settings`` (connectors/s3/settings.py),
kept as the endpoint's extra attributes; credentials come from boto3's own chain (environment, shared
files, instance roles) and are never stored by OpenDMS. docs/engines/s3.md has the details.
"""

TARGET = "target:S3Target"
SETTINGS = "settings:S3_SETTINGS"
PORT = 0
