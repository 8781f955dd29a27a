"""MariaDB binlog catch-up: how fast the MySQL source reads a backlog of changes, beside the bare binlog reader.

python -m bench.binlog [--changes N] [--repeat R]

A throwaway MariaDB (deploy/mariadb.sh) gets a table of the benchmark's shape and a backlog of N single-row
changes (inserts, then updates, in transactions of 100), written while nobody reads. Then, from the position
before them to the end of the binlog:

- bare reader: mysql-replication's BinLogStreamReader alone, every row event's rows decoded (its values as
  Python objects), the table's events only: the floor any reader of that library pays;
- OpenDMS source: MysqlSource.stream as the CDC job reads it: each change as a Change of common values (text
  temporal values, Decimals, transaction boundaries), until the heartbeat after the last one.

Both figures are changes per second, the median of R runs; the goal is at least 0.9x of the bare reader.
"""

from __future__ import annotations

import statistics
import time
from urllib.parse import unquote, urlsplit

from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from bench.common import arguments, print_table
from connectors.base import Change, Endpoint, Position, TableRule
from connectors.mysql import logpos
from connectors.mysql.source import MysqlSource

TABLE = ("CREATE TABLE bench (id bigint PRIMARY KEY, i int, n decimal(12,2), t varchar(48), ts timestamp(6) NULL, "
         "b bit(1), j json)")


def _endpoint(url: str) -> Endpoint:
    u = urlsplit(url)
    return Endpoint("bench", "source", "mariadb", u.hostname or "", u.port or 3306, u.path.lstrip("/"),
                    unquote(u.username or ""), unquote(u.password or ""))


def _backlog(url: str, changes: int) -> None:
    from servers_mariadb import execute  # on the path once bench.common is imported

    inserts = changes // 2
    statements = [TABLE]
    for start in range(0, inserts, 100):
        statements.append("INSERT INTO bench SELECT seq, seq * 7919 % 100000, seq / 100, MD5(seq), "
                          "TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND, seq % 3 = 0, "
                          "JSON_OBJECT('k', seq % 1000) "
                          f"FROM seq_{start + 1}_to_{min(start + 100, inserts)}")
    for start in range(0, changes - inserts, 100):
        statements.append(f"UPDATE bench SET i = i + 1, t = CONCAT(t, 'u') WHERE id BETWEEN {start + 1} AND "
                          f"{min(start + 100, changes - inserts)}")
    execute(url, *statements)


def _bare(ep: Endpoint, start: Position, end: Position) -> tuple[int, float]:
    file, offset = logpos.where(start)
    end_file, end_offset = logpos.where(end)
    reader = BinLogStreamReader(
        {"host": ep.host, "port": ep.port, "user": ep.user, "password": ep.password, "charset": "utf8mb4"},
        server_id=4_000_000_001, log_file=file, log_pos=offset, resume_stream=True, blocking=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent], only_schemas=[ep.database],
        only_tables=["bench"], enable_logging=False)
    began = time.perf_counter()
    count = 0
    try:
        for event in reader:
            count += len(event.rows)
            if (reader.log_file, reader.log_pos) >= (end_file, end_offset):
                break
    finally:
        reader.close()
    return count, time.perf_counter() - began


def _ours(ep: Endpoint, start: Position, expected: int) -> tuple[int, float]:
    source = MysqlSource(ep)
    try:
        (table,) = source.tables([TableRule(ep.database, "bench", "explicit")])
        began = time.perf_counter()
        count = 0
        stream = source.stream("bench", start, [table])
        for item in stream:
            if type(item) is Change:
                count += 1
            elif count >= expected:  # the end of the last transaction of the backlog
                break
        elapsed = time.perf_counter() - began
        stream.close()
        return count, elapsed
    finally:
        source.close()


def run(changes: int, repeat: int) -> dict:
    from servers_mariadb import MariaDBServer, fresh_mariadb  # on the path once bench.common is imported

    server = MariaDBServer().start()
    try:
        url = fresh_mariadb(server)
        ep = _endpoint(url)
        source = MysqlSource(ep)
        start = source.server.current(source.query)
        source.close()
        _backlog(url, changes)
        source = MysqlSource(ep)
        end = source.server.current(source.query)
        source.close()
        bare = [_bare(ep, start, end) for _ in range(repeat)]
        ours = [_ours(ep, start, bare[0][0]) for _ in range(repeat)]
    finally:
        server.stop()
    bare_rate = statistics.median(n / s for n, s in bare)
    our_rate = statistics.median(n / s for n, s in ours)
    rows = [["bare reader (mysql-replication)", bare[0][0], bare_rate, 1.0],
            ["OpenDMS MySQL source (stream)", ours[0][0], our_rate, our_rate / bare_rate]]
    print_table(f"MariaDB binlog catch-up, {changes:,} changes, median of {repeat}",
                ["reader", "changes", "changes/s", "x bare"], rows)
    return {"changes": changes, "bare_per_s": bare_rate, "ours_per_s": our_rate, "ratio": our_rate / bare_rate}


def main() -> None:
    parser = arguments("python -m bench.binlog", __doc__)
    parser.add_argument("--changes", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run(args.changes, args.repeat)


if __name__ == "__main__":
    main()
