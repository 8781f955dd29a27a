"""DMS's resource tags (AddTagsToResource, RemoveTagsFromResource, ListTagsForResource, and `Tags` of the Create
operations), kept in the catalog beside the resources: Terraform reads a resource's tags after every change."""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa

from . import errors
from .arns import KINDS, Context, ident

_meta = sa.MetaData()

tags_table = sa.Table(
    "dms_api_tags",
    _meta,
    sa.Column("kind", sa.String(16), primary_key=True),  # endpoint, rep, task: the ARN's resource type
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False, default=""),
)
_KIND_OF = {v: k for k, v in KINDS.items()}


@cache
def _engine(url: str | None) -> sa.Engine:
    from .arns import catalog

    engine = catalog(url).engine
    _meta.create_all(engine)
    return engine


def _resource(ctx: Context, arn: Any) -> tuple[str, str]:
    """(ARN resource type, identifier) of an existing resource."""
    if not isinstance(arn, str) or arn.count(":") < 6:
        raise errors.invalid_value(f"ResourceArn {arn!r} is not a DMS ARN (arn:aws:dms:REGION:ACCOUNT:TYPE:ID)")
    kind = arn.split(":")[5]
    if kind not in _KIND_OF:
        raise errors.invalid_value(f"ResourceArn {arn}: only endpoints, replication instances and tasks have tags")
    resource_id = ident(arn, _KIND_OF[kind], "ResourceArn")
    look = {"endpoint": lambda: ctx.catalog.endpoint(resource_id, decrypt=False),
            "rep": lambda: ctx.catalog.instance(resource_id), "task": lambda: ctx.catalog.task(resource_id)}[kind]
    from connectors.errors import ConfigError

    try:
        look()
    except ConfigError:
        raise errors.not_found(f"Resource {arn} not found") from None
    return kind, resource_id


def check(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list) or not all(isinstance(t, dict) and isinstance(t.get("Key"), str) for t in value):
        raise errors.invalid_value("Tags must be a list of {Key, Value}")
    for t in value:
        if not 1 <= len(t["Key"]) <= 128 or t["Key"].startswith(("aws:", "dms:")):
            raise errors.invalid_value(f"tag key {t['Key']!r}: 1 to 128 characters, not starting with aws: or dms:")
    return [(t["Key"], str(t.get("Value") or "")) for t in value]


def put(ctx: Context, kind: str, resource_id: str, tags: Any) -> None:
    """Set the tags (a Create operation's `Tags`, or AddTagsToResource's): a key given again takes the new value."""
    pairs = check(tags)
    table = tags_table.c
    with _engine(ctx.catalog_url).begin() as conn:
        for key, value in pairs:
            conn.execute(tags_table.delete().where((table.kind == kind) & (table.id == resource_id)
                                                   & (table.key == key)))
            conn.execute(tags_table.insert().values(kind=kind, id=resource_id, key=key, value=value))


def forget(ctx: Context, kind: str, resource_id: str) -> None:
    """A deleted resource's tags go with it."""
    with _engine(ctx.catalog_url).begin() as conn:
        conn.execute(tags_table.delete().where((tags_table.c.kind == kind) & (tags_table.c.id == resource_id)))


def add_tags_to_resource(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from .shapes import required

    kind, resource_id = _resource(ctx, required(req, "ResourceArn"))
    put(ctx, kind, resource_id, required(req, "Tags"))
    return {}


def remove_tags_from_resource(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    from .shapes import required

    kind, resource_id = _resource(ctx, required(req, "ResourceArn"))
    keys = required(req, "TagKeys")
    if not isinstance(keys, list):
        raise errors.invalid_value("TagKeys must be a list of tag keys")
    table = tags_table.c
    with _engine(ctx.catalog_url).begin() as conn:
        conn.execute(tags_table.delete().where((table.kind == kind) & (table.id == resource_id)
                                               & table.key.in_([str(k) for k in keys])))
    return {}


def list_tags_for_resource(ctx: Context, req: dict[str, Any]) -> dict[str, Any]:
    arns = list(req.get("ResourceArnList") or []) + ([req["ResourceArn"]] if req.get("ResourceArn") else [])
    if not arns:
        raise errors.missing("ResourceArn")
    out = []
    with _engine(ctx.catalog_url).connect() as conn:
        for arn in arns:
            kind, resource_id = _resource(ctx, arn)
            rows = conn.execute(sa.select(tags_table.c.key, tags_table.c.value).where(
                (tags_table.c.kind == kind) & (tags_table.c.id == resource_id)).order_by(tags_table.c.key)).all()
            out += [{"Key": k, "Value": v, "ResourceArn": arn} for k, v in rows]
    return {"TagList": out}


OPERATIONS = {
    "AddTagsToResource": add_tags_to_resource,
    "RemoveTagsFromResource": remove_tags_from_resource,
    "ListTagsForResource": list_tags_for_resource,
}
