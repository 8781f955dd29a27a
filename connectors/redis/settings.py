"""DMS's RedisSettings, as `dms endpoint create --redis-settings` takes them."""

from connectors.settings_object import Key, SettingsObject

REDIS_SETTINGS = SettingsObject("RedisSettings", "redis-settings", (
    Key("ServerName", field="host"),
    Key("Port", int, 6379, field="port"),
    Key("SslSecurityProtocol", default="ssl-encryption", choices=("plaintext", "ssl-encryption")),
    # DMS takes a certificate's ARN; here it is the path of a PEM file of the CA (none: the system's CAs).
    Key("SslCaCertificateArn"),
    Key("AuthType", default="none", choices=("none", "auth-token", "auth-role")),
    Key("AuthUserName", field="user"),
    Key("AuthPassword", field="password"),
))
