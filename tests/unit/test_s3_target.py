"""The S3 target in local-folder mode (no server needed): DMS's layout and CSV spelling, settings refused
with the closest key, crash safety of CDC files, and Parquet read back by pyarrow itself."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import Batch, Change, Column, Endpoint, Op, Position, TableId, TableSchema
from connectors.errors import ConfigError
from connectors.registry import open_target
from connectors.s3.settings import S3Config

TABLE = TableSchema(TableId("public", "items"), (Column("id", "int8", False), Column("name", "text"),
                                                 Column("price", "numeric", dms="NUMERIC(10,2)")), ("id",))


def target(folder: Path, **settings: str):
    settings.setdefault("CdcMaxBatchInterval", "0")  # a CDC file per batch, unless a test says otherwise
    return open_target(Endpoint("files", "target", "s3", extra={"BucketName": f"file://{folder}", **settings}))


def change(n: int, op: Op, before: dict | None, after: dict | None, when: float = 1_700_000_000.5) -> Change:
    return Change(TABLE.table, op, Position("t", n, 1, str(n)), before, after, commit_time=when)


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_full_load_and_changes_in_dms_layout_and_spelling(tmp_path: Path) -> None:
    t = target(tmp_path, BucketFolder="lake", CsvDelimiter="|", CsvNullValue="", MaxFileSize="1")
    t.prepare(TABLE, "drop")
    rows = [{"id": i, "name": None if i == 2 else f"n|{i}", "price": Decimal("1.50")} for i in range(1, 41)]
    assert t.load(TABLE, [Batch(len(rows), rows)]) == 40
    t.apply("task", {TABLE: [change(1, Op.INSERT, None, {"id": 99, "name": "", "price": Decimal("2")}),
                             change(1, Op.UPDATE, {"id": 1}, {"id": 1, "name": "x\ny", "price": None}),
                             change(2, Op.DELETE, {"id": 3}, None)]})
    names = files(tmp_path)
    assert "lake/public/items/LOAD00000001.csv" in names and "lake/public/items/20231114-2213205000.csv" in names
    first = (tmp_path / "lake/public/items/LOAD00000001.csv").read_text()
    assert first.startswith('1|"n|1"|1.50\n2||1.50\n')  # NULL is CsvNullValue, a delimiter is quoted
    cdc = (tmp_path / "lake/public/items/20231114-2213205000.csv").read_text()
    assert cdc == 'I|99|""|2\nU|1|"x\ny"|\nD|3||\n'  # '' quoted apart from NULL ('' here)
    got = [r for batch in t.read(TABLE) for r in batch]
    assert got[0] == {"id": 1, "name": "x\ny", "price": None} and {"id": 99, "name": "", "price": Decimal("2")} in got
    assert [r["id"] for r in got] == [1, 2, *range(4, 41), 99]
    assert t.applied("task") == {TABLE.table: Position("t", 2, 1, "2")}


def test_a_batch_replayed_after_a_crash_replaces_its_files(tmp_path: Path) -> None:
    t = target(tmp_path, DatePartitionEnabled="true", DatePartitionDelimiter="DASH")
    t.prepare(TABLE, "drop")
    t.apply("task", {TABLE: [change(1, Op.INSERT, None, {"id": 1, "name": "a", "price": None})]})
    # a batch whose checkpoint never landed (the worker died): its file is there, the checkpoint is not
    lost = target(tmp_path, DatePartitionEnabled="true", DatePartitionDelimiter="DASH")
    lost._take("task", TABLE, [change(2, Op.INSERT, None, {"id": 2, "name": "b", "price": None}, 1_700_000_100)],
               dict(t._read_checkpoint("task")["public.items"]))
    assert len([f for f in files(tmp_path) if f.startswith("public/items/2023-11-14/")]) == 2
    again = target(tmp_path, DatePartitionEnabled="true", DatePartitionDelimiter="DASH")  # the restarted worker
    again.apply("task", {TABLE: [change(2, Op.INSERT, None, {"id": 2, "name": "b", "price": None}, 1_700_000_101),
                                 change(3, Op.INSERT, None, {"id": 3, "name": "c", "price": None})]})
    assert [r["id"] for batch in again.read(TABLE) for r in batch] == [1, 2, 3]
    assert len([f for f in files(tmp_path) if f.startswith("public/items/2023-11-14/")]) == 2


def test_parquet_files_read_back_by_pyarrow(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    t = target(tmp_path, DataFormat="parquet", IncludeOpForFullLoad="true", TimestampColumnName="ts")
    t.prepare(TABLE, "drop")
    rows = [{"id": 1, "name": "a", "price": Decimal("1.25")}, {"id": 2, "name": None, "price": None}]
    t.load(TABLE, [Batch(2, rows)])
    table = pq.read_table(tmp_path / "public/items/LOAD00000001.parquet")
    assert table.column_names == ["Op", "ts", "id", "name", "price"]
    assert str(table.schema.field("price").type) == "decimal128(10, 2)"
    assert table.column("Op").to_pylist() == ["I", "I"] and table.column("price").to_pylist()[0] == Decimal("1.25")


@pytest.mark.parametrize(("given", "message"), [
    ({"BucketName": "b", "CsvDelimeter": ";"}, "S3Settings has no key 'CsvDelimeter': did you mean CsvDelimiter?"),
    ({"BucketName": "b", "DataFormat": "orc"}, "S3Settings.DataFormat 'orc' is not one of csv, parquet"),
    ({"BucketName": "b", "CdcMaxBatchInterval": "soon"}, "S3Settings.CdcMaxBatchInterval must be a whole number"),
    ({"BucketName": "b", "CdcInsertsOnly": True, "CdcInsertsAndUpdates": True}, "cannot both be true"),
    ({"DataFormat": "csv"}, "S3Settings.BucketName is missing"),
    ({"BucketName": "b", "MaxFileSize": 0}, "MaxFileSize 0 is out of range"),
    ({"BucketName": "b", "IgnoreHeaderRows": 1}, "is for an S3 source"),
])
def test_bad_settings_are_refused_in_one_line(given: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
        S3Config.parse(given)


def test_a_missing_folder_is_one_clear_line(tmp_path: Path) -> None:
    assert target(tmp_path / "nowhere").check() == [
        f"S3Settings.BucketName: folder {tmp_path / 'nowhere'} does not exist: create it or give another"]


def test_batches_gather_into_one_file_until_cdc_max_batch_interval_or_the_stop(tmp_path: Path) -> None:
    t = target(tmp_path, CdcMaxBatchInterval="60")
    t.prepare(TABLE, "drop")
    t.apply("task", {TABLE: [change(1, Op.INSERT, None, {"id": 1, "name": "a", "price": None})]})
    t.apply("task", {TABLE: [change(2, Op.UPDATE, {"id": 1}, {"id": 1, "name": "b", "price": None}, 1_700_000_001)]})
    assert [f for f in files(tmp_path) if f.startswith("public/")] == []  # not due: two parts, no CDC file yet
    assert len([f for f in files(tmp_path) if f.startswith("_opendms/pending/task/public/items/")]) == 2
    assert [r for batch in t.read(TABLE) for r in batch] == [{"id": 1, "name": "b", "price": None}]  # parts count
    # a worker killed after writing a third part but before its checkpoint: the part is not listed
    lost = target(tmp_path, CdcMaxBatchInterval="60")
    mark = lost._read_checkpoint("task")["public.items"]
    lost._take("task", TABLE, [change(3, Op.INSERT, None, {"id": 3, "name": "lost", "price": None}, 1_700_000_002)],
               dict(mark, parts=list(mark["parts"])))
    again = target(tmp_path, CdcMaxBatchInterval="60")
    again.apply("task", {TABLE: [change(3, Op.INSERT, None, {"id": 3, "name": "c", "price": None}, 1_700_000_002)]})
    again.close()  # the stop: every part into one file, named after the first
    assert [f for f in files(tmp_path) if not f.startswith("_opendms/load/")] == [
        "_opendms/checkpoints/task.json", "public/items/20231114-2213205000.csv"]
    assert (tmp_path / "public/items/20231114-2213205000.csv").read_text() == "I,1,a,NULL\nU,1,b,NULL\nI,3,c,NULL\n"
    assert again.applied("task") == {TABLE.table: Position("t", 3, 1, "3")}


def test_cdc_min_file_size_cuts_a_file_once_its_parts_hold_that_much(tmp_path: Path) -> None:
    t = target(tmp_path, CdcMaxBatchInterval="3600", CdcMinFileSize="1")
    t.prepare(TABLE, "drop")
    big = "x" * 700
    for i in range(1, 4):
        t.apply("task", {TABLE: [change(i, Op.INSERT, None, {"id": i, "name": big, "price": None}, 1_700_000_000 + i)]})
    made = [f for f in files(tmp_path) if f.startswith("public/")]
    assert made == ["public/items/20231114-2213210000.csv"]  # parts 1 and 2 (over 1 KB); part 3 waits
    assert [r["id"] for batch in t.read(TABLE) for r in batch] == [1, 2, 3]


def test_a_source_bulk_text_goes_straight_into_parquet_unless_a_value_is_escaped(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from connectors.s3.formats import SOURCE_TEXT

    columns = (Column("id", "int8", False), Column("b", "bool"), Column("n", "numeric", dms="NUMERIC(12,2)"),
               Column("ts", "timestamptz"), Column("s", "text"))
    table = TableSchema(TableId("public", "t"), columns, ("id",))
    decoded = []

    def decode(data: bytes) -> list[dict]:
        decoded.append(data)
        return [{"id": 3, "b": None, "n": None, "ts": None, "s": "tab\there"}]

    t = target(tmp_path, DataFormat="parquet")
    t.prepare(table, "drop")
    plain = b"1\tt\t1.50\t2024-01-01 00:00:01+00\t\n2\t\\N\t\\N\t\\N\t\\N\n"
    escaped = b"3\t\\N\t\\N\t\\N\ttab\\there\n"
    assert t.load(table, [Batch(2, raw=(SOURCE_TEXT, plain), decode=decode),
                          Batch(1, raw=(SOURCE_TEXT, escaped), decode=decode)]) == 3
    assert decoded == [escaped]  # only the batch with an escaped value was made into rows
    got = pq.read_table(tmp_path / "public/t/LOAD00000001.parquet").to_pylist()
    assert [r["id"] for r in got] == [1, 2, 3] and got[0]["b"] is True and got[0]["n"] == Decimal("1.50")
    assert got[0]["s"] == "" and got[1]["s"] is None and got[2]["s"] == "tab\there"
    assert [r for rows in t.read(table) for r in rows][0]["ts"] == "2024-01-01 00:00:01+00"


@pytest.mark.parametrize("data_format", ["csv", "parquet"])
def test_a_load_from_the_source_bulk_text_cuts_its_files_at_max_file_size(tmp_path: Path, data_format: str) -> None:
    """The source's text is gathered (8 MB) before Arrow reads it, but never past the room left in the file:
    files are cut at MaxFileSize give or take one batch (a Parquet file grows by whole row groups), numbered in
    order, every row in one of them."""
    from connectors.s3.formats import SOURCE_TEXT

    table = TableSchema(TableId("public", "t"), (Column("id", "int8", False), Column("s", "text")), ("id",))
    t = target(tmp_path, DataFormat=data_format, MaxFileSize="16", RowGroupLength="100")
    t.prepare(table, "drop")
    batches = [b"".join(b"%d\t%s\n" % (i, b"x" * 40) for i in range(n * 100 + 1, n * 100 + 101)) for n in range(40)]
    assert t.load(table, [Batch(100, raw=(SOURCE_TEXT, text), decode=None) for text in batches]) == 4000
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "public/t").iterdir()}
    assert sorted(sizes) == [f"LOAD{n:08X}.{data_format}" for n in range(1, len(sizes) + 1)] and len(sizes) >= 3
    assert all(size < 16 * 1024 + 2 * len(batches[0]) for size in sizes.values()), sizes
    assert [r["id"] for rows in t.read(table) for r in rows] == list(range(1, 4001))


EDGES = TableSchema(TableId("public", "e"), (
    Column("id", "int8", False), Column("b", "bool"), Column("n", "numeric", dms="NUMERIC(12,2)"),
    Column("f", "float8"), Column("g", "float4"), Column("ts", "timestamptz"), Column("s", "text"),
    Column("m", "numeric")), ("id",))
EDGE_TEXT = (b"1\tt\t1.50\t100\t1.1\t2024-01-01 00:00:01+00\ta,b\t12.000\n"
             b"2\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n"
             b"3\tf\t-0.01\t1e+20\tNaN\t2024-01-01 00:00:01.5+05:30\tsay \"hi\"\tNaN\n"
             b"4\tf\t0.00\tInfinity\t-Infinity\tinfinity\tNULL\t0\n"
             b"5\tt\t9999999999.99\t0.1\t3.4028235e+38\t2024-01-01\t\tInfinity\n")
EDGE_ROWS = [
    {"id": 1, "b": True, "n": Decimal("1.50"), "f": 100.0, "g": 1.1, "ts": "2024-01-01 00:00:01+00", "s": "a,b",
     "m": Decimal("12.000")},
    dict.fromkeys(("b", "n", "f", "g", "ts", "s", "m"), None) | {"id": 2},
    {"id": 3, "b": False, "n": Decimal("-0.01"), "f": 1e20, "g": float("nan"), "ts": "2024-01-01 00:00:01.5+05:30",
     "s": 'say "hi"', "m": Decimal("NaN")},
    {"id": 4, "b": False, "n": Decimal("0.00"), "f": float("inf"), "g": float("-inf"), "ts": "infinity", "s": "NULL",
     "m": Decimal("0")},
    {"id": 5, "b": True, "n": Decimal("9999999999.99"), "f": 0.1, "g": 3.4028235e38, "ts": "2024-01-01", "s": "",
     "m": Decimal("Infinity")}]


@pytest.mark.parametrize("settings", [
    {}, {"CsvNullValue": ""}, {"Rfc4180": "false"}, {"CompressionType": "gzip"},
    {"CsvDelimiter": "|", "CsvRowDelimiter": "\r\n", "AddTrailingPaddingCharacter": "true", "AddColumnName": "true",
     "IncludeOpForFullLoad": "true"}])
def test_a_csv_full_load_from_the_source_bulk_text_is_spelt_as_from_rows(tmp_path: Path, settings: dict) -> None:
    """The columnar CSV path (Arrow reads the source's text, compute functions spell it) writes the very bytes
    the row path writes, edge values included: NULL and a text spelt NULL, quotes, delimiters, floats, NaN."""
    from connectors.s3.formats import SOURCE_TEXT

    def never(data: bytes) -> list[dict]:
        raise AssertionError("the bulk text was decoded into rows")

    written = []
    for n, batch in enumerate([Batch(5, EDGE_ROWS), Batch(5, raw=(SOURCE_TEXT, EDGE_TEXT), decode=never)]):
        t = target(tmp_path / str(n), **settings)
        assert t.load(EDGES, [batch]) == 5
        written.append([p.read_bytes() for p in sorted((tmp_path / str(n)).rglob("LOAD*.csv*"))])
    assert written[0] == written[1] and len(written[0]) == 1
    if not settings:
        assert written[1][0].split(b"\n")[2] == b'3,false,-0.01,1e+20,NaN,2024-01-01 00:00:01.5+05:30,"say ""hi""",NaN'
        assert b',"NULL",' in written[1][0] and b"2,NULL,NULL," in written[1][0]


def test_parquet_row_groups_hold_row_group_length_rows_whatever_the_batches(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    t = target(tmp_path, DataFormat="parquet", RowGroupLength="10")
    batches = [Batch(7, [{"id": i, "name": "x", "price": None} for i in range(n, n + 7)]) for n in (0, 7, 14)]
    assert t.load(TABLE, batches) == 21
    meta = pq.ParquetFile(tmp_path / "public/items/LOAD00000001.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [10, 10, 1]


def test_the_documented_pyarrow_round_trip_rebuilds_the_table(tmp_path: Path) -> None:
    """docs/engines/s3.md's snippet, run as written on a table's LOAD and CDC Parquet files (inserts, an update,
    a delete, a key change), rebuilds exactly the rows the changes leave."""
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs/engines/s3.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", doc.split("## Reading the files back", 1)[1], re.S).group(1)
    t = target(tmp_path, DataFormat="parquet")
    t.prepare(TABLE, "drop")
    t.load(TABLE, [Batch(3, [{"id": i, "name": f"n{i}", "price": Decimal("1.50")} for i in (1, 2, 3)])])
    t.apply("task", {TABLE: [change(1, Op.INSERT, None, {"id": 4, "name": "four", "price": None}),
                             change(2, Op.UPDATE, {"id": 1}, {"id": 1, "name": "one", "price": Decimal("2.00")})]})
    t.apply("task", {TABLE: [change(3, Op.DELETE, {"id": 2}, None, when=1_700_000_001.0),
                             change(4, Op.UPDATE, {"id": 3}, {"id": 30, "name": "n3", "price": Decimal("1.50")},
                                    when=1_700_000_001.0)]})
    scope: dict = {}
    exec(snippet.replace('folder = "lake/public/orders"', f'folder = "{tmp_path}/public/items"'), scope)  # noqa: S102
    assert scope["rows"] == {1: {"id": 1, "name": "one", "price": Decimal("2.00")},
                             4: {"id": 4, "name": "four", "price": None},
                             30: {"id": 30, "name": "n3", "price": Decimal("1.50")}}
