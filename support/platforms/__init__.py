"""Where replies go: one adapter per platform behind one small interface.

An adapter posts a reply to the viewers who asked and returns the platform's message id.
`idempotency_key` goes with every attempt as the platform's client message id, so a retry
after a timeout returns the message that already landed instead of posting it twice.
Only the demo adapter exists so far; every platform uses it until its own is written.
"""

from importlib import import_module
from typing import Protocol

from rooms.models import Channel, Stream


class PlatformTimeout(Exception):
    """The platform did not answer in time: the reply may or may not have landed."""


class PlatformRejected(Exception):
    """The platform refused the reply for good (comment deleted, words it does not allow)."""


class ReplyAdapter(Protocol):
    def send_reply(
        self,
        *,
        channel: Channel,
        stream: Stream,
        text: str,
        to_users: list[str],
        idempotency_key: str,
    ) -> str: ...


# Platform (rooms.models.Platform) -> module holding its adapter's `send_reply`.
ADAPTERS: dict[str, str] = {}
DEFAULT_ADAPTER = "support.platforms.demo"


def adapter_for(channel: Channel) -> ReplyAdapter:
    return import_module(ADAPTERS.get(channel.platform, DEFAULT_ADAPTER))
