"""A password or token in a NATS URL never reaches a message, a log line or a table."""

from __future__ import annotations

import pytest

from reverie._private.redact import shown_url
from reverie._private.runtime import DistributedRuntime
from reverie.errors import TransportError


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
        ("nats://alice:s3cret@10.0.0.1:4222", "nats://alice:***@10.0.0.1:4222"),
        ("nats://s3cr3tt0ken@10.0.0.1:4222", "nats://***@10.0.0.1:4222"),
        ("tls://u:p@a:1, nats://b:2", "tls://u:***@a:1, nats://b:2"),
        ("nats://u:p%40ss@[::1]:4222", "nats://u:***@[::1]:4222"),
    ],
)
def test_shown_url_masks_the_secret_only(url: str, shown: str) -> None:
    assert shown_url(url) == shown


async def test_a_failed_connect_names_the_url_without_its_password() -> None:
    # port 1 on loopback: nothing listens, the connect fails at once
    with pytest.raises(TransportError) as info:
        await DistributedRuntime.connect("nats://alice:s3cret@127.0.0.1:1", connect_timeout=2)
    msg = str(info.value)
    assert msg.startswith("cannot connect to NATS at nats://alice:***@127.0.0.1:1 (")
    assert "s3cret" not in msg
