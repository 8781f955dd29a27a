"""The transactional SQL target every SQL engine shares (not an engine: it names no SOURCE or TARGET).

``target.SqlTarget`` keeps the checkpoint table (``awsdms_txn_state``), the exceptions table
(``awsdms_apply_exceptions``), the apply loop (a batch collapsed per key, connectors/net_effect.py)
and DMS's apply-error policies; ``apply.py`` plans and applies a table's changes through the
statements an engine supplies. An engine subclasses ``SqlTarget`` and supplies only its SQL: see
"A SQL engine supplies" in docs/connectors.md.
"""
