"""PostgreSQL's types <-> AWS DMS's types, as data (connectors/types.py).

Native -> DMS follows DMS's "Source data types for PostgreSQL", except where OpenDMS carries more: a
BOOLEAN stays BOOLEAN (DMS's MapBooleanAsBoolean=true; by default DMS sends 'true'/'false' text), and
NUMERIC keeps any precision (DMS makes p > 38 a STRING and an unbounded NUMERIC a NUMERIC(28,6)).
DMS -> native follows "Target data types for PostgreSQL", with lengths, precisions and scales
carried, UINT8 as numeric(20,0) (DMS: BIGINT, which overflows), and the closer type kept for a uuid,
a JSON document or a timestamp with time zone from another engine. A PostgreSQL source keeps its
own declaration exactly (enums, domains, arrays, ranges: connectors/types.TypeTable.target_type).
"""

from __future__ import annotations

from connectors.types import FromDms, ToDms, TypeTable

_MICROSECONDS = "PostgreSQL keeps microseconds: fraction digits past the 6th are rounded"

TYPES = TypeTable("postgres", [
    ToDms(("bool", "boolean"), "BOOLEAN", "bool"),
    ToDms(("int2", "smallint", "smallserial"), "INT2", "int2"),
    ToDms(("int4", "integer", "serial"), "INT4", "int4"),
    ToDms(("int8", "bigint", "bigserial"), "INT8", "int8"),
    ToDms(("float4", "real"), "REAL4", "float4"),
    ToDms(("float8", "double precision"), "REAL8", "float8"),
    ToDms(("numeric", "decimal"), "NUMERIC", "numeric"),
    ToDms(("varchar", "character varying", "bpchar", "character"), "WSTRING", "string"),
    ToDms(("text",), "NCLOB", "text"),
    ToDms(("bytea",), "BLOB", "bytes"),
    ToDms(("date",), "DATE", "date"),
    ToDms(("time", "time without time zone"), "TIME", "time"),
    ToDms(("timetz", "time with time zone"), "TIME"),
    ToDms(("timestamp", "timestamp without time zone"), "DATETIME", "timestamp"),
    ToDms(("timestamptz", "timestamp with time zone"), "DATETIME", "timestamptz"),
    ToDms(("json", "jsonb"), "NCLOB", "json"),
    ToDms(("uuid",), "STRING(36)", "uuid", keep_params=False),
    ToDms(("interval",), "STRING(128)", keep_params=False),
    ToDms(("inet", "cidr"), "STRING(50)", keep_params=False),
    ToDms(("macaddr",), "STRING(18)", keep_params=False),
    ToDms(("bit", "bit varying", "varbit"), "STRING"),
    ToDms(("point", "line", "lseg", "box", "circle"), "STRING(255)", keep_params=False),
    ToDms(("int4range", "int8range", "numrange", "daterange", "tsrange", "tstzrange"), "STRING(255)",
          keep_params=False),
    ToDms(("path", "polygon", "xml", "tsvector", "tsquery"), "CLOB", keep_params=False),
    ToDms(("hstore",), "NCLOB", keep_params=False),
], [
    FromDms("BOOLEAN", "boolean"),
    FromDms("BYTES", "bytea"),
    FromDms("BLOB", "bytea"),
    FromDms("DATE", "date"),
    FromDms("TIME", "time({scale})", "time", lossy=_MICROSECONDS, above=("scale", 6)),
    FromDms("DATETIME", "timestamp({scale})", "timestamp", lossy=_MICROSECONDS, above=("scale", 6)),
    FromDms("DATETIME", "timestamptz({scale})", "timestamptz", portable="timestamptz",
            lossy="PostgreSQL keeps the instant, not the offset: a value's UTC offset comes back as +00"),
    FromDms("INT1", "smallint"),
    FromDms("INT2", "smallint"),
    FromDms("INT4", "integer"),
    FromDms("INT8", "bigint"),
    FromDms("UINT1", "smallint"),
    FromDms("UINT2", "integer"),
    FromDms("UINT4", "bigint"),
    FromDms("UINT8", "numeric(20,0)"),
    FromDms("NUMERIC", "numeric({precision},{scale})", "numeric"),
    FromDms("REAL4", "real"),
    FromDms("REAL8", "double precision"),
    FromDms("STRING", "varchar({length})", "text"),
    FromDms("STRING", "uuid", portable="uuid"),
    FromDms("WSTRING", "varchar({length})", "text"),
    FromDms("CLOB", "text"),
    FromDms("NCLOB", "text"),
    FromDms("NCLOB", "jsonb", portable="json",
            lossy="jsonb keeps the document, not its text: whitespace, key order and duplicate keys change"),
])
