"""Access keys of the API: made by `dms api keys create`, each secret kept in the catalog encrypted as endpoint
passwords are (connectors/model/secret_key.py), since SigV4 verification needs the secret itself, not a hash."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from functools import cache

import sqlalchemy as sa

from connectors.model import secret_key
from connectors.model.catalog import Catalog

_meta = sa.MetaData()

keys_table = sa.Table(
    "dms_api_keys",
    _meta,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@cache
def _engine(url: str | None) -> sa.Engine:
    engine = Catalog(url).engine  # the catalog's engine, its pool kept for the process's life
    _meta.create_all(engine)
    return engine


def create_key(url: str | None = None) -> tuple[str, str]:
    """A new access key: (key id, secret). The secret is shown to its owner once and kept only encrypted."""
    # AWS's shapes: a 20-character upper-case id ("AKIA..." for IAM users; ours say "ODMS") and a 40-character secret.
    key_id = "ODMS" + "".join(secrets.choice(_ALPHABET) for _ in range(16))
    secret = secrets.token_urlsafe(30)[:40]
    with _engine(url).begin() as conn:
        conn.execute(keys_table.insert().values(id=key_id, secret=secret_key.encrypt(secret),
                                                created_at=datetime.now(UTC)))
    return key_id, secret


def secret_for(key_id: str, url: str | None = None) -> str | None:
    """The secret of an access key, None for a key that does not exist."""
    with _engine(url).connect() as conn:
        stored = conn.execute(sa.select(keys_table.c.secret).where(keys_table.c.id == key_id)).scalar()
    return None if stored is None else secret_key.decrypt(stored, f"the secret of API access key {key_id}")
