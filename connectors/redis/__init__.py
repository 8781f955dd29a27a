"""Redis (and ElastiCache for Redis) as a target, of the keyed kind: each row is a hash named
``schema-name.table-name.primary-key`` as DMS names it, holding column -> value in the text form of
values.py; a delete deletes the key. A CDC batch and the task's checkpoint are applied in one
MULTI/EXEC, so a replay never doubles or loses a change. Endpoint settings: DMS's RedisSettings
(``--redis-settings``, settings.py). See docs/engines/redis.md.
"""

TARGET = "target:RedisTarget"
SETTINGS = "settings:REDIS_SETTINGS"
PORT = 6379
