"""Where budgets change: one adapter per ad platform behind one small interface.

An adapter reads a campaign's budget and changes it. Every call returns (or raises with)
the exchange it had with the platform — the request and the response body as sent and
received — so the audit log keeps both. The adapter translates the platform's answers
into the exceptions below: a caller never parses a response body.

`request_id` goes with every change. Platforms that honour it make a repeated set
harmless; additive calls (随心推's budget add) ignore it, so only the caller's read-back
stands between an answer lost on the way and money spent twice.

Only the sandbox adapter exists so far; every platform uses it until its own is written.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from importlib import import_module
from typing import Protocol

from ..models import AdAccount, Campaign


@dataclass(frozen=True)
class Exchange:
    """One call as it went over the wire: what was sent, what came back (None: nothing)."""

    method: str
    request: dict
    status: int | None = None
    response: dict | None = None

    def data(self) -> dict:
        return {
            "method": self.method,
            "request": self.request,
            "status": self.status,
            "response": self.response,
        }


@dataclass(frozen=True)
class Budget:
    amount: Decimal
    paused: bool
    exchange: Exchange | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Receipt:
    """A change the platform says it made, with its reference for the change."""

    ref: str
    exchange: Exchange


# An adapter gives up on any one call within this many seconds (its HTTP client's
# timeout) and raises PlatformTimeout. Execution leases (`services.EXECUTION_LEASE`) are
# several times longer, so a row whose lease ran out has no call of its worker still on the
# wire: a read-back then sees every change that will ever land from it.
CALL_TIMEOUT_SECONDS = 10


class PlatformError(Exception):
    def __init__(self, message: str, *, code: str = "", exchange: Exchange | None = None):
        super().__init__(message)
        self.code = code
        self.exchange = exchange


class PlatformTimeout(PlatformError):
    """No usable answer: the change may or may not have landed. Read back before retrying."""


class PlatformServerError(PlatformTimeout):
    """The platform failed partway (a 5xx): as unsure as a timeout, and handled like one."""


class PlatformThrottled(PlatformError):
    """The platform refused for now ("too many requests"); nothing was changed."""


class PlatformRejected(PlatformError):
    """The platform refused for good (quota used up, step too small, campaign gone)."""


class AdPlatformAdapter(Protocol):
    def read_budget(self, campaign: Campaign) -> Budget: ...

    def set_budget(self, campaign: Campaign, target: Decimal, request_id: str) -> Receipt: ...

    def add_budget(self, campaign: Campaign, amount: Decimal, request_id: str) -> Receipt: ...

    def pause(self, campaign: Campaign, request_id: str) -> Receipt: ...


# AdPlatform value -> "module:Class" of its adapter.
ADAPTERS: dict[str, str] = {}
DEFAULT_ADAPTER = "ads.platforms.sandbox:SandboxAdapter"


def adapter_for(account: AdAccount) -> AdPlatformAdapter:
    module, name = ADAPTERS.get(account.platform, DEFAULT_ADAPTER).split(":")
    return getattr(import_module(module), name)()
