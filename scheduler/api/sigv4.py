"""Signature Version 4, checked on the server: the signature recomputed from the stored secret with botocore's own
signer over the headers the client says it signed, compared in constant time."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from . import errors

_AUTH = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)$")
# What AWS allows between the signer's clock and the server's.
MAX_SKEW = timedelta(minutes=15)


def verify(method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
           secret_for: Callable[[str], str | None], now: datetime | None = None) -> tuple[str, str]:
    """Raise an ApiError unless the request is signed by a known key; (access key id, region) when it is.
    `headers` are keyed lower-case."""
    authorization = headers.get("authorization", "")
    if not authorization:
        raise errors.auth_missing()
    match = _AUTH.match(authorization.strip())
    if not match:
        raise errors.ApiError("IncompleteSignature", "Authorization header is not an AWS4-HMAC-SHA256 signature "
                              "with Credential, SignedHeaders and Signature", 403)
    credential, signed, given = match.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise errors.ApiError("IncompleteSignature", f"Credential {credential} is not "
                              "KEY/DATE/REGION/SERVICE/aws4_request", 403)
    key_id, day, region, service, _ = parts
    stamp = headers.get("x-amz-date", "")
    try:
        when = datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise errors.ApiError("IncompleteSignature", "X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ", 403) from None
    if abs((now or datetime.now(UTC)) - when) > MAX_SKEW:
        raise errors.auth_bad_signature(f"Signature expired: {stamp} is more than 15 minutes from the server's "
                                        "time; check the client's clock")
    if day != stamp[:8]:
        raise errors.auth_bad_signature(f"Credential date {day} is not the date of X-Amz-Date {stamp}")
    names = signed.split(";")
    if "host" not in names:
        raise errors.auth_bad_signature("The Host header must be signed")
    secret = secret_for(key_id)
    if secret is None:
        raise errors.auth_unknown_key()
    expected = signature(method, path, query, {n: headers.get(n, "") for n in names}, body,
                         key_id, secret, region, service, stamp)
    if not hmac.compare_digest(expected, given):
        raise errors.auth_bad_signature()
    return key_id, region


def signature(method: str, path: str, query: str, signed_headers: Mapping[str, str], body: bytes, key_id: str,
              secret: str, region: str, service: str, stamp: str) -> str:
    """The SigV4 signature of a request: what botocore's SigV4Auth computes for it at time `stamp`."""
    url = f"http://{signed_headers['host']}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, data=body, headers=dict(signed_headers))
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(key_id, secret), service, region)
    canonical = signer.canonical_request(request)
    return signer.signature(signer.string_to_sign(request, canonical), request)
