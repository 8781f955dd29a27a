"""Apache Kafka as a target (append kind): DMS's JSON records (connectors/streams/records.py), one message per
row change, written with kafka-python; each batch and the task's checkpoint in one Kafka transaction, so a
consumer reading ``read_committed`` sees every change once (docs/engines/kafka.md)."""

TARGET = "target:KafkaTarget"
PORT = 9092
SETTINGS = "settings:KAFKA_SETTINGS"
