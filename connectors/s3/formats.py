"""DMS's file formats: CSV as DMS writes it, and Parquet through pyarrow; each written and read back.

A record is (op, timestamp, row): ``op`` is "I", "U", "D" or None (no op column), ``timestamp`` the text of
TimestampColumnName's column or None, ``row`` the values in column order. A column missing from an update's
image (a value the source did not send, PostgreSQL's unchanged TOAST) is ``NOSUP``: CSV writes
CsvNoSupValue for it when UseCsvNoSupValue is set (DMS's key for it), NULL otherwise; Parquet writes NULL.

CSV values: NULL is CsvNullValue unquoted; a text equal to it, or holding the delimiter, the row delimiter,
a quote or a line break, is quoted (Rfc4180, quotes doubled); booleans are ``true``/``false``, bytes hex,
numbers as the source's digits. Reading back takes the same rules, so a file round-trips exactly.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import IO, Any

import structlog

from connectors.base import Column
from connectors.errors import DataError

from .settings import S3Config

log = structlog.get_logger("opendms.s3")
NOSUP = object()  # a value the change did not carry
OP_COLUMN = "Op"
Record = tuple[str | None, str | None, Sequence[Any]]


def header(config: S3Config, columns: Sequence[Column], with_op: bool) -> list[str]:
    names = [OP_COLUMN] if with_op else []
    if config["TimestampColumnName"]:
        names.append(config["TimestampColumnName"])
    return names + [c.name for c in columns]


# -- CSV -----------------------------------------------------------------------------------------


class CsvWriter:
    """Records -> CSV bytes in DMS's spelling, into a binary file (gzipped whole when asked)."""

    def __init__(self, config: S3Config, columns: Sequence[Column], with_op: bool, out: IO[bytes]) -> None:
        self.delimiter, self.row_end = config["CsvDelimiter"], config["CsvRowDelimiter"]
        self.null = config["CsvNullValue"]
        self.nosup = config["CsvNoSupValue"] if config["UseCsvNoSupValue"] else self.null
        self.quoting = config["Rfc4180"]
        self.pad = " " if config["AddTrailingPaddingCharacter"] else ""
        self.with_op, self.stamp = with_op, bool(config["TimestampColumnName"])
        gz = config["CompressionType"] == "gzip"
        # filename "": the header names no file (else the temporary one it is written under)
        self.gz = gzip.GzipFile(filename="", fileobj=out, mode="wb", compresslevel=6, mtime=0) if gz else None
        self.out = self.gz or out
        self.specials = re.compile("|".join(re.escape(s) for s in {self.delimiter, self.row_end, '"', "\n", "\r"}))
        # the same alternation in RE2's syntax (Arrow's), every character but letters and digits as \x{hex}
        self.specials_re2 = "|".join("".join(c if c.isalnum() and c.isascii() else f"\\x{{{ord(c):x}}}" for c in s)
                                     for s in {self.delimiter, self.row_end, '"', "\n", "\r"})
        self.columns = columns
        # an integer's or a decimal's digits never need quotes unless the delimiters or NULL's spelling could
        # be made of them
        digits = set("0123456789.-+")
        self.digits_safe = not any(set(s) & digits for s in (self.delimiter, self.row_end)) and all(
            set(s) - digits and s not in ("NaN", "Infinity", "-Infinity") for s in (self.null, self.nosup))
        if config["AddColumnName"]:
            self.out.write(self._line(header(config, columns, with_op)).encode())

    def _field(self, value: Any) -> str:
        if value is None:
            return self.null
        if value is NOSUP:
            return self.nosup
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, bytes):
            text = value.hex()
        elif isinstance(value, float):
            text = _float_text(value)
        elif isinstance(value, Decimal):
            text = format(value, "f") if value.is_finite() else str(value)
        else:
            text = str(value)
        if self.quoting and (text == self.null or text == self.nosup or self.specials.search(text)
                             or (text == "" and self.null == "")):
            return '"' + text.replace('"', '""') + '"'
        return text

    def _line(self, fields: Iterable[str]) -> str:
        return self.delimiter.join(fields) + self.pad + self.row_end

    def write(self, records: Iterable[Record]) -> None:
        field, lines = self._field, []
        for op, stamp, row in records:
            lead = ([op] if self.with_op else []) + ([stamp] if self.stamp else [])
            lines.append(self._line([*lead, *map(field, row)]))
        self.out.write("".join(lines).encode())

    def write_rows(self, ops: Sequence[str | None], stamps: Sequence[str | None], rows: Sequence[Sequence[Any]],
                   whole: bool = False) -> None:
        self.write(zip(ops, stamps, rows, strict=True))

    def write_arrow(self, part: Any, op: str | None, stamp: str | None) -> None:
        """A table of the columns as Arrow read them (``source_text``), spelt by Arrow's compute functions as
        ``_field`` spells values one by one: every value the source's text unless a boolean or a float."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = part.num_rows
        if not n:
            return
        fields = [pa.array([op] * n, pa.string())] if self.with_op else []
        if self.stamp:
            fields.append(pa.array([stamp] * n, pa.string()))
        for column in self.columns:
            values = part.column(column.name)
            if column.type == "bool":
                values = pc.if_else(values, "true", "false")
            elif column.type in ("float4", "float8"):
                values = pa.array([None if v is None else _float_text(float(v)) for v in values.to_pylist()],
                                  pa.string())
            elif values.type != pa.string():
                values = values.cast(pa.string())  # integers and decimals: the digits the source sent
            if self.quoting and not (column.type in _DIGITS_ONLY and self.digits_safe):
                need = pc.match_substring_regex(values, self.specials_re2)
                if self.null == "" or self.nosup == "":
                    need = pc.or_(need, pc.equal(values, ""))
                for spelt in {self.null, self.nosup} - {""}:
                    need = pc.or_(need, pc.equal(values, spelt))
                if pc.any(need).as_py():  # most columns of most batches have no value to quote: no copy then
                    quoted = pc.binary_join_element_wise('"', pc.replace_substring(values, '"', '""'), '"', "")
                    values = pc.if_else(need, quoted, values)
            fields.append(pc.fill_null(values, self.null))
        lines = pc.binary_join_element_wise(*fields, self.delimiter)
        lines = pc.binary_join_element_wise(lines, self.pad + self.row_end, "")
        for chunk in (lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]):
            # the lines lie end to end in the array's data buffer: written as they are, between the first and
            # the last of the chunk's offsets (32-bit, from its slice's start)
            _validity, offsets, data = chunk.buffers()
            if data is not None and len(chunk):
                start, = struct.unpack_from("<i", offsets, 4 * chunk.offset)
                end, = struct.unpack_from("<i", offsets, 4 * (chunk.offset + len(chunk)))
                self.out.write(memoryview(data)[start:end])

    def close(self) -> None:
        if self.gz is not None:
            self.gz.close()


_DIGITS_ONLY = ("int2", "int4", "int8", "numeric")


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def read_csv(config: S3Config, data: bytes, columns: Sequence[Column], with_op: bool) -> Iterator[Record]:
    """The records of one CSV file, values typed by the columns."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode()
    delimiter, row_end = config["CsvDelimiter"], config["CsvRowDelimiter"]
    null = config["CsvNullValue"]
    nosup = config["CsvNoSupValue"] if config["UseCsvNoSupValue"] else None
    lead = int(with_op) + int(bool(config["TimestampColumnName"]))
    # AddTrailingPaddingCharacter ends each line with a space before the row delimiter
    lines = _split(text, delimiter, (" " if config["AddTrailingPaddingCharacter"] else "") + row_end)
    # With a header, a file written before a schema change is read by its columns' names (one it lacks: NULL).
    names = [name for name, _quoted in (next(lines, None) or [])[lead:]] if config["AddColumnName"] else []
    at = [names.index(c.name) if c.name in names else None for c in columns] if names else range(len(columns))
    width = lead + (len(names) if names else len(columns))
    for fields in lines:
        if len(fields) != width:
            raise DataError(f"a CSV line has {len(fields)} fields where {width} were expected")
        op = fields[0][0] if with_op else None
        stamp = fields[lead - 1][0] if config["TimestampColumnName"] else None
        row = []
        for i, column in zip(at, columns, strict=True):
            if i is None:
                row.append(None)
                continue
            value, quoted = fields[lead + i]
            if not quoted and nosup is not None and value == nosup:
                row.append(NOSUP)
            elif not quoted and value == null:
                row.append(None)
            else:
                row.append(_typed(value, column))
        yield op, stamp, row


def _split(text: str, delimiter: str, row_end: str) -> Iterator[list[tuple[str, bool]]]:
    """Lines of (field, quoted) pairs, quotes undone."""
    i, n = 0, len(text)
    while i < n:
        fields: list[tuple[str, bool]] = []
        while True:
            if text.startswith('"', i):
                j, parts = i + 1, []
                while True:
                    k = text.index('"', j)
                    parts.append(text[j:k])
                    if text.startswith('"', k + 1):
                        parts.append('"')
                        j = k + 2
                    else:
                        i = k + 1
                        break
                fields.append(("".join(parts), True))
            else:
                ends = [p for p in (text.find(delimiter, i), text.find(row_end, i)) if p >= 0]
                k = min(ends) if ends else n
                fields.append((text[i:k], False))
                i = k
            if text.startswith(delimiter, i):
                i += len(delimiter)
                continue
            i += len(row_end)
            break
        yield fields


def _typed(text: str, column: Column) -> Any:
    kind = column.type
    try:
        if kind == "bool":
            return text == "true"
        if kind in ("int2", "int4", "int8"):
            return int(text)
        if kind in ("float4", "float8"):
            return float(text)
        if kind == "numeric":
            return Decimal(text)
        if kind == "bytes":
            return bytes.fromhex(text)
    except ValueError:
        raise DataError(f"column {column.name}: {text[:40]!r} is not a {kind} value") from None
    return text


# -- Parquet -------------------------------------------------------------------------------------


def arrow_type(column: Column, config: S3Config):
    """The Parquet (Arrow) type of a column, from its value class and DMS type."""
    import pyarrow as pa

    unit = "ms" if config["ParquetTimestampInMillisecond"] else "us"
    kind = column.type
    simple = {"bool": pa.bool_(), "int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64(),
              "float4": pa.float32(), "float8": pa.float64(), "bytes": pa.binary(), "date": pa.date32(),
              "time": pa.time64("us"), "timestamp": pa.timestamp(unit), "timestamptz": pa.timestamp(unit, tz="UTC")}
    if kind in simple:
        return simple[kind]
    if kind == "numeric":
        match = re.match(r"NUMERIC\((\d+),(\d+)\)", column.dms.replace(" ", "").upper())
        if match and 0 < int(match.group(1)) <= 38:
            return pa.decimal128(int(match.group(1)), int(match.group(2)))
        return pa.string()  # a numeric without precision (or above 38 digits) keeps its digits as text
    return pa.string()


def _arrow_value(value: Any, column: Column) -> Any:
    if value is None or value is NOSUP:
        return None
    kind = column.type
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "time":
        return time.fromisoformat(value)
    if kind == "timestamp":
        return datetime.fromisoformat(value)
    if kind == "timestamptz":
        return datetime.fromisoformat(value).astimezone(UTC)
    if kind == "numeric" and isinstance(value, Decimal) is False:
        return Decimal(str(value))
    return value


class ParquetWriter:
    """Records -> one Parquet file (a row group per write), DMS's Parquet settings applied."""

    def __init__(self, config: S3Config, columns: Sequence[Column], with_op: bool, out: IO[bytes]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.columns, self.with_op = columns, with_op
        self.stamp = bool(config["TimestampColumnName"])
        fields = [pa.field(OP_COLUMN, pa.string())] if with_op else []
        if self.stamp:
            fields.append(pa.field(config["TimestampColumnName"], pa.string()))
        fields += [pa.field(c.name, arrow_type(c, config)) for c in columns]
        self.schema = pa.schema(fields)
        self.converts = [column.type in ("date", "time", "timestamp", "timestamptz") or self.schema.field(
            column.name).type == pa.string() and column.type == "numeric" for column in columns]
        encoding = config["EncodingType"]
        self.writer = pq.ParquetWriter(
            out, self.schema, version="1.0" if config["ParquetVersion"] == "parquet-1-0" else "2.6",
            write_statistics=config["EnableStatistics"], use_dictionary=encoding != "plain",
            dictionary_pagesize_limit=config["DictPageSizeLimit"] or None,
            data_page_size=config["DataPageSize"] or None,
            compression="gzip" if config["CompressionType"] == "gzip" else "none")
        self.group = config["RowGroupLength"] or None
        self.rest: Any = None  # rows short of a whole row group, written with the next ones
        self.unfit: set[str] = set()

    def write(self, records: Sequence[Record]) -> None:
        if records:
            self.write_rows([r[0] for r in records], [r[1] for r in records], [r[2] for r in records])

    def write_rows(self, ops: Sequence[str | None], stamps: Sequence[str | None], rows: Sequence[Sequence[Any]],
                   whole: bool = False) -> None:
        """Rows of values in column order (with their op and timestamp values), as one row group per call;
        ``whole``: every value is there (a full load's rows), none is NOSUP."""
        import pyarrow as pa

        if not rows:
            return
        arrays = []
        if self.with_op:
            arrays.append(pa.array(ops, pa.string()))
        if self.stamp:
            arrays.append(pa.array(stamps, pa.string()))
        for column, convert, values in zip(self.columns, self.converts, zip(*rows, strict=True), strict=True):
            kind = self.schema.field(column.name).type
            if not whole and any(v is NOSUP for v in values):
                values = [None if v is NOSUP else v for v in values]
            try:
                arrays.append(self._convert(values, column, kind) if convert else pa.array(values, kind))
            except (pa.ArrowException, ValueError, TypeError, OverflowError) as exc:
                raise DataError(f"column {column.name}: a value does not fit Parquet's {kind}: {exc}") from None
        self._emit(pa.Table.from_arrays(arrays, schema=self.schema))

    def write_arrow(self, part: Any, op: str | None, stamp: str | None) -> None:
        """A table of the columns as Arrow read them (``source_text``): temporal columns still text."""
        import pyarrow as pa

        n = part.num_rows
        arrays = []
        if self.with_op:
            arrays.append(pa.array([op] * n, pa.string()))
        if self.stamp:
            arrays.append(pa.array([stamp] * n, pa.string()))
        for column, convert in zip(self.columns, self.converts, strict=True):
            kind = self.schema.field(column.name).type
            values = part.column(column.name)  # chunked as Arrow read it: no copy into one array
            if values.type != kind:
                try:
                    values = values.cast(kind) if not convert or column.type != "time" else None
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    values = None
                if values is None:
                    values = self._convert(part.column(column.name).to_pylist(), column, kind)
            arrays.append(values)
        self._emit(pa.Table.from_arrays(arrays, schema=self.schema))

    def _convert(self, values: Sequence[Any], column: Column, kind: Any) -> Any:
        """Text values into the column's Parquet type: by Arrow's own parser (ISO dates and timestamps, with
        offsets), else one by one (times, and a batch holding a value Arrow refuses)."""
        import pyarrow as pa

        if kind == pa.string():
            return pa.array([_text_numeric(v) for v in values], kind)
        if column.type != "time":
            try:
                return pa.array(values, pa.string()).cast(kind)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        return pa.array([self._value(v, column) for v in values], kind)

    def _value(self, value: Any, column: Column) -> Any:
        try:
            return _arrow_value(value, column)
        except ValueError:
            # Parquet's dates and timestamps hold no infinity and no BC date: NULL, and said once per column.
            if column.name not in self.unfit:
                self.unfit.add(column.name)
                log.warning("s3_parquet_value_unfit", column=column.name, value=str(value)[:40],
                            written="NULL")
            return None

    def _emit(self, table: Any) -> None:
        """Row groups of exactly RowGroupLength rows whatever the writes' sizes (the last one shorter): the
        rows short of a whole group wait for the next write, not a group of their own."""
        import pyarrow as pa

        if self.group is None:
            self.writer.write_table(table)
            return
        if self.rest is not None:
            table = pa.concat_tables([self.rest, table])
        whole = table.num_rows - table.num_rows % self.group
        if whole:
            self.writer.write_table(table.slice(0, whole), row_group_size=self.group)
        self.rest = table.slice(whole) if whole < table.num_rows else None

    def close(self) -> None:
        if self.rest is not None:
            self.writer.write_table(self.rest, row_group_size=self.group)
            self.rest = None
        self.writer.close()


# The bulk text a PostgreSQL source sends with its rows (tab-separated, \N for NULL, backslash escapes):
# Arrow reads it straight into columns when no value needed an escape.
SOURCE_TEXT = "postgres-copy-text"
_ARROW_PARSES = ("bool", "int2", "int4", "int8", "float4", "float8")


def source_text(data: bytes, columns: Sequence[Column], config: S3Config, key: Sequence[str] = ()) -> Any:
    """The source's bulk text as an Arrow table (temporal and numeric-as-text columns still text), or None
    when a value carries an escape (a tab, a newline, a backslash, bytes) or Arrow refuses a value: then
    the rows decoded by the source are taken instead. CSV keeps the source's digits as they came: only the
    ``key`` columns' numbers are read (for the file's key bounds), and booleans (spelt true/false)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    types = {}
    for column in columns:
        kind = arrow_type(column, config)
        parsed = column.type in _ARROW_PARSES and (config.parquet or column.type not in ("float4", "float8"))
        if not config.parquet and column.type != "bool" and column.name not in key:
            parsed = False  # the digits go into the file as the source sent them: no parse, no cast back
        elif pa.types.is_decimal(kind):
            parsed = True
        types[column.name] = kind if parsed else pa.string()
    try:
        part = pcsv.read_csv(
            io.BytesIO(data), read_options=pcsv.ReadOptions(column_names=[c.name for c in columns],
                                                            block_size=_BLOCK),
            parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False, double_quote=False, escape_char=False),
            convert_options=pcsv.ConvertOptions(column_types=types, null_values=["\\N"], strings_can_be_null=True,
                                                true_values=["t"], false_values=["f"]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    # A backslash left in a text column is an escape (NULL's \N is gone by now): Arrow kept it as it came.
    # Non-text columns holding one were refused above. One scan in C of the text columns, not of every byte.
    if b"\\" in data and any(pc.any(pc.match_substring(part.column(c.name), "\\")).as_py()
                              for c in columns if types[c.name] == pa.string()):
        return None
    return part


# The full load gathers this much of the source's text before Arrow reads it (a read of 1 MB costs nearly
# what a read of 8 MB does: thread start-up, schema, column chunks), in blocks of _BLOCK read side by side.
GATHER = 8 << 20
_BLOCK = 1 << 20


def _text_numeric(value: Any) -> Any:
    if value is None or value is NOSUP:
        return None
    return format(value, "f") if isinstance(value, Decimal) and value.is_finite() else str(value)


def read_parquet(data: bytes, columns: Sequence[Column], with_op: bool, config: S3Config) -> Iterator[Record]:
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    names = table.column_names
    ops = table.column(OP_COLUMN).to_pylist() if with_op and OP_COLUMN in names else None
    stamp_name = config["TimestampColumnName"]
    stamps = table.column(stamp_name).to_pylist() if stamp_name and stamp_name in names else None
    # a file written before a schema change lacks a column added since: NULL in it
    values = [[_from_arrow(v, c) for v in table.column(c.name).to_pylist()] if c.name in names
              else [None] * table.num_rows for c in columns]
    for i in range(table.num_rows):
        yield (ops[i] if ops else None, stamps[i] if stamps else None, [col[i] for col in values])


def _from_arrow(value: Any, column: Column) -> Any:
    """Parquet's typed values back to the portable spelling (PostgreSQL's text form of temporal values)."""
    if value is None:
        return None
    kind = column.type
    if kind == "numeric" and isinstance(value, str):
        return Decimal(value)
    if kind == "date":
        return value.isoformat()
    if kind == "time":
        return _trim(value.isoformat())
    if kind == "timestamp":
        return _trim(value.isoformat(sep=" "))
    if kind == "timestamptz":
        return _trim(value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")) + "+00"
    return value


def _trim(text: str) -> str:
    """'12:00:00.500000' -> '12:00:00.5', as PostgreSQL prints fractions."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
