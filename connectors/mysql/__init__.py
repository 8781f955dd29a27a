"""MySQL, MariaDB and Aurora MySQL: one package serves DMS's engine names ``mysql``, ``mariadb`` and ``aurora``
(see connectors/registry.py). PyMySQL speaks to all of them; the target loads with LOAD DATA LOCAL INFILE and
applies through the shared SQL target (connectors/sql/); the source reads the binlog with mysql-replication."""

SOURCE = "source:MysqlSource"
TARGET = "target:MysqlTarget"
PORT = 3306
TYPES = "types:TYPES"
ALIASES = ("mariadb", "aurora")
