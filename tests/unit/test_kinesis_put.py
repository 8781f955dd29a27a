"""The Kinesis target's pure parts (no server): which entries a partly failed PutRecords sends again, and
StreamArn's parsing."""

from __future__ import annotations

import pytest

from connectors.errors import ConfigError
from connectors.kinesis.stream import Entry, _resend, stream_name


def test_a_failed_entry_is_sent_again_with_every_later_entry_of_its_key_and_nothing_else():
    call = [Entry("a", b"1"), Entry("b", b"2"), Entry("a", b"3"), Entry("c", b"4"), Entry("a", b"5"), Entry("b", b"6")]
    results = [{}, {"ErrorCode": "ProvisionedThroughputExceededException"}, {"ErrorCode": "InternalFailure"}, {}, {},
               {}]
    # b's 2 failed: 6 (after it) goes again even though it went through; a's 3 failed: 5 goes again; 1 and 4 are done.
    assert [e.data for e in _resend(call, results)] == [b"2", b"3", b"5", b"6"]
    assert _resend(call, [{}] * len(call)) == []


def test_stream_arns():
    assert stream_name("arn:aws:kinesis:eu-west-1:123456789012:stream/orders") == ("eu-west-1", "orders")
    for bad in ("orders", "arn:aws:s3:::bucket", "arn:aws:kinesis:eu-west-1:1:orders", None):
        with pytest.raises(ConfigError, match="is not a stream's ARN"):
            stream_name(bad)
