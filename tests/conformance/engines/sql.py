"""What the engines spoken to in SQL share: tables made and written with parameterised statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import TableId

from . import Engine, key_tuple


class SqlEngine(Engine):
    mark = "%s"
    sql_target = True
    keys: dict[str, tuple[str, ...]]

    def quote(self, name: str) -> str:
        return '"' + name + '"'

    def create(self, table: str, columns: Sequence[tuple[str, str]], key: Sequence[str] = ("id",)) -> TableId:
        cols = ", ".join(f"{self.quote(n)} {self.decls[t]}" for n, t in columns)
        self.run([(f"CREATE TABLE {self.quote(table)} ({cols}, PRIMARY KEY ({', '.join(map(self.quote, key))}))",
                   ())])
        self.keys[table] = tuple(key)
        return TableId(self.schema, table)

    def bind(self, value: Any) -> Any:
        return value

    def write(self, table: TableId, ops: Sequence[tuple]) -> None:
        name = self.quote(table.name)
        match = " AND ".join(f"{self.quote(k)} = {self.mark}" for k in self.keys[table.name])
        statements = []
        for op, *args in ops:
            if op == "insert":
                row = args[0]
                statements.append((f"INSERT INTO {name} ({', '.join(map(self.quote, row))}) VALUES "
                                   f"({', '.join([self.mark] * len(row))})", [self.bind(v) for v in row.values()]))
            elif op == "update":
                key, values = args
                sets = ", ".join(f"{self.quote(c)} = {self.mark}" for c in values)
                statements.append((f"UPDATE {name} SET {sets} WHERE {match}",
                                   [*map(self.bind, values.values()), *map(self.bind, key_tuple(key))]))
            elif op == "delete":
                statements.append((f"DELETE FROM {name} WHERE {match}", list(map(self.bind, key_tuple(args[0])))))
            else:
                statements.append((self.truncate_sql(name), ()))
        self.run(statements)

    def truncate_sql(self, name: str) -> str:
        return f"TRUNCATE {name}"

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        raise NotImplementedError
