"""DMS's KafkaSettings: the keys, their defaults, and the client configurations they make (kafka-python's
and librdkafka's).

`dms endpoint create --kafka-settings` takes them (connectors/settings_object.py): ``SaslUsername`` is kept as
the endpoint's user and the secrets, ``SaslPassword`` or ``SslClientKeyPassword``, as its password (stored
encrypted like every password); the rest among its extra attributes by DMS's names. The ``...Arn``
keys of certificates name files here (there is no AWS certificate manager to fetch them from).
OpenDMS's own keys: ``CheckpointTopic`` (where each task's checkpoints go, default ``opendms-checkpoints``),
``ExactlyOnce`` (default true: each batch and its checkpoint in one Kafka transaction; false: an idempotent
producer without transactions, at-least-once, every record carrying its source position).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from connectors.base import Endpoint
from connectors.errors import ConfigError
from connectors.settings_object import Key, SettingsObject

SECURITY_PROTOCOLS = {"plaintext": "PLAINTEXT", "ssl-encryption": "SSL", "ssl-authentication": "SSL",
                      "sasl-ssl": "SASL_SSL", "sasl-plaintext": "SASL_PLAINTEXT"}  # the last is ours
SASL_MECHANISMS = {"scram-sha-512": "SCRAM-SHA-512", "plain": "PLAIN", "scram-sha-256": "SCRAM-SHA-256"}
DEFAULT_TOPIC = "kafka-default-topic"

KAFKA_SETTINGS = SettingsObject("KafkaSettings", "kafka-settings", (
    Key("Broker"),  # host:port,host:port (else the endpoint's --host/--port)
    Key("Topic", default=DEFAULT_TOPIC),
    Key("MessageFormat", default="json", choices=("json", "json-unformatted")),
    Key("IncludeTransactionDetails", bool, False),
    Key("IncludePartitionValue", bool, False),
    Key("PartitionIncludeSchemaTable", bool, False),
    Key("IncludeTableAlterOperations", bool, False),
    Key("IncludeControlDetails", bool, False),
    Key("IncludeNullAndEmpty", bool, False),
    Key("MessageMaxBytes", int, 1_000_000),
    Key("NoHexPrefix", bool, False),
    Key("SecurityProtocol", default="plaintext", choices=tuple(SECURITY_PROTOCOLS)),
    Key("SaslMechanism", default="scram-sha-512", choices=tuple(SASL_MECHANISMS)),
    Key("SaslUsername", field="user"),
    Key("SaslPassword", field="password"),
    Key("SslCaCertificateArn"),  # here: the path of a PEM file (no certificate manager to fetch it from)
    Key("SslClientCertificateArn"),
    Key("SslClientKeyArn"),
    Key("SslClientKeyPassword", field="password"),
    Key("SslEndpointIdentificationAlgorithm", default="https", choices=("none", "https")),
    Key("UseLargeIntegerValue", bool, False),  # no effect: integers are JSON numbers already
    Key("CheckpointTopic", default="opendms-checkpoints", ours=True),
    Key("ExactlyOnce", bool, True, ours=True),
))


def values(ep: Endpoint) -> dict[str, Any]:
    """The endpoint's whole KafkaSettings, typed, DMS's defaults filled in (Broker from --host/--port when
    not given)."""
    out = KAFKA_SETTINGS.values(ep)
    if not out["Broker"] and ep.host:
        out["Broker"] = f"{ep.host}:{ep.port or 9092}"
    return out


def brokers(settings: Mapping[str, Any], ep: Endpoint) -> list[str]:
    found = [b.strip() for b in str(settings["Broker"]).split(",") if b.strip()]
    if not found:
        raise ConfigError(f"endpoint {ep.id}: no broker: give KafkaSettings.Broker (host:port,...) or --host/--port")
    return found


def client_config(settings: Mapping[str, Any], ep: Endpoint) -> dict[str, Any]:
    """kafka-python's connection settings (every client: producer, consumer, admin)."""
    protocol = SECURITY_PROTOCOLS[settings["SecurityProtocol"]]
    config: dict[str, Any] = {"bootstrap_servers": brokers(settings, ep), "security_protocol": protocol,
                              "client_id": f"opendms-{ep.id}"}
    if protocol.startswith("SASL"):
        if not settings["SaslUsername"] or not settings["SaslPassword"]:
            raise ConfigError(f"endpoint {ep.id}: SecurityProtocol {settings['SecurityProtocol']} needs "
                              "KafkaSettings.SaslUsername and SaslPassword")
        config.update(sasl_mechanism=SASL_MECHANISMS[settings["SaslMechanism"]],
                      sasl_plain_username=settings["SaslUsername"], sasl_plain_password=settings["SaslPassword"])
    if protocol.endswith("SSL"):
        context = ssl.create_default_context(cafile=settings["SslCaCertificateArn"] or None)
        context.check_hostname = settings["SslEndpointIdentificationAlgorithm"] == "https"
        if settings["SslClientCertificateArn"]:
            context.load_cert_chain(settings["SslClientCertificateArn"], settings["SslClientKeyArn"] or None,
                                    settings["SslClientKeyPassword"] or None)
        config["ssl_context"] = context
    return config


def producer_config(settings: Mapping[str, Any], ep: Endpoint) -> dict[str, Any]:
    """The same connection in librdkafka's terms (confluent-kafka, the producer of records: docs/engines/kafka.md
    says why); client_config has already refused what is missing."""
    protocol = SECURITY_PROTOCOLS[settings["SecurityProtocol"]]
    config: dict[str, Any] = {"bootstrap.servers": ",".join(brokers(settings, ep)), "security.protocol": protocol,
                              "client.id": f"opendms-{ep.id}"}
    if protocol.startswith("SASL"):
        config.update({"sasl.mechanism": SASL_MECHANISMS[settings["SaslMechanism"]],
                       "sasl.username": settings["SaslUsername"], "sasl.password": settings["SaslPassword"]})
    if protocol.endswith("SSL"):
        config["ssl.endpoint.identification.algorithm"] = settings["SslEndpointIdentificationAlgorithm"]
        for key, name in (("ssl.ca.location", "SslCaCertificateArn"), ("ssl.certificate.location",
                          "SslClientCertificateArn"), ("ssl.key.location", "SslClientKeyArn"),
                          ("ssl.key.password", "SslClientKeyPassword")):
            if settings[name]:
                config[key] = settings[name]
    return config

