"""The ingest webhook's contract: signatures, the batch format, and the handler registry.

The contract is public and stable (README, "Ingest webhook"). Parsing here is strict about the
fields each type needs and keeps any extra fields, so platforms can add data without breaking
us. Types nobody handles are stored and reported, never dropped.

Apps register a handler per event type in `AppConfig.ready()`:

    ingest.register_handler("comment", support.services.comments_ingest)

A handler is called inside the dispatch transaction with the stream and that stream's new
inbox rows of its type, and may raise: its rows are then retried later.
"""

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from django.utils.dateparse import parse_datetime

SIGNATURE_SCHEME = "v1"
# Unix seconds have 10 digits until the year 2286; anything much longer is not a timestamp.
TIMESTAMP_MAX_DIGITS = 12
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
ORDER_STATUSES = ("placed", "paid", "refunded")
STREAM_STATUSES = ("live", "paused", "ended")


class IngestRejected(Exception):
    """A request the webhook refuses; `status` is 400 (malformed) or 401 (unauthenticated)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class PlatformEvent:
    id: str
    type: str
    at: datetime
    fields: dict[str, Any]


# --- Signatures --------------------------------------------------------------------------


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `v1` signature of a body: hex HMAC-SHA256 over "<timestamp>.<raw body>"."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    *,
    secrets: list[str],
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    max_skew: int,
) -> None:
    """Accept the request if any `v1=` value matches any active secret, in constant time."""
    if (
        not timestamp
        or len(timestamp) > TIMESTAMP_MAX_DIGITS
        or not timestamp.isascii()
        or not timestamp.isdigit()
    ):
        raise IngestRejected(401, "X-MCN-Timestamp must be unix seconds")
    if abs(now - int(timestamp)) > max_skew:
        raise IngestRejected(401, f"X-MCN-Timestamp is more than {max_skew} s from server time")
    offered = [
        value.strip()[len(SIGNATURE_SCHEME) + 1 :].lower()
        for value in (signature or "").split(",")
        if value.strip().startswith(SIGNATURE_SCHEME + "=")
    ]
    offered = [value for value in offered if _HEX_DIGEST.fullmatch(value)]
    if not offered:
        raise IngestRejected(401, "X-MCN-Signature has no v1=<64 hex digits> value")
    matched = False
    for secret in secrets:
        expected = sign(secret, timestamp, body)
        for candidate in offered:
            # Every pair is compared, so timing does not reveal which secret or value matched.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise IngestRejected(401, "signature does not match")


# --- Batch format ------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One required field of a platform event type: how to check it and what it holds."""

    kind: str  # "text", "count", "money" or "choice"
    choices: tuple[str, ...] = ()

    def parse(self, value: Any) -> Any:
        if self.kind == "text":
            if not isinstance(value, str):
                raise ValueError("expected a string")
            return value
        if self.kind == "count":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("expected a whole number")
            if value < 0:
                raise ValueError("must not be negative")
            return value
        if self.kind == "money":
            return _money(value)
        if value not in self.choices:
            raise ValueError("expected one of " + ", ".join(self.choices))
        return value


def _money(value: Any) -> str:
    """Money stays exact: JSON numbers are parsed as Decimal and stored as strings."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ValueError("expected a decimal number")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError("expected a decimal number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be a finite, non-negative number")
    return str(amount)


TEXT, COUNT, MONEY = Field("text"), Field("count"), Field("money")

FIELDS: dict[str, dict[str, Field]] = {
    "comment": {"user_id": TEXT, "user_name": TEXT, "text": TEXT},
    "viewers": {"online": COUNT, "entered_total": COUNT},
    "order": {
        "order_id": TEXT,
        "sku": TEXT,
        "quantity": COUNT,
        "amount": MONEY,
        "status": Field("choice", ORDER_STATUSES),
    },
    "ad_metrics": {
        "campaign_id": TEXT,
        "spend": MONEY,
        "impressions": COUNT,
        "clicks": COUNT,
        "orders": COUNT,
        "gmv": MONEY,
    },
    "stream_status": {"status": Field("choice", STREAM_STATUSES)},
}
KNOWN_TYPES = frozenset(FIELDS)


def parse_batch(body: bytes, *, max_events: int) -> list[PlatformEvent]:
    """Validate a webhook body; raise `IngestRejected(400, reason)` naming the first fault."""
    try:
        document = json.loads(body, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestRejected(400, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise IngestRejected(400, "body is nested too deeply") from None
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise IngestRejected(400, 'body must be an object with an "events" array')
    raw_events = document["events"]
    if len(raw_events) > max_events:
        raise IngestRejected(400, f"too many events: {len(raw_events)} (at most {max_events})")
    return [_parse_event(index, raw) for index, raw in enumerate(raw_events)]


def _parse_event(index: int, raw: Any) -> PlatformEvent:
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        raise IngestRejected(400, f"{where}: expected an object")
    raw = _storable(raw)
    event_id, event_type, at_text = raw.get("id"), raw.get("type"), raw.get("at")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 128:
        raise IngestRejected(400, f"{where}.id: expected a string of 1 to 128 characters")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 32:
        raise IngestRejected(400, f"{where}.type: expected a string of 1 to 32 characters")
    try:
        at = parse_datetime(at_text) if isinstance(at_text, str) else None
    except ValueError:  # well-formed but impossible, such as 24:00 or 30 February
        at = None
    if at is None:
        raise IngestRejected(400, f"{where}.at: expected an ISO 8601 date and time")
    if at.tzinfo is None:
        raise IngestRejected(400, f"{where}.at: must include a UTC offset or Z")
    fields = {k: _jsonable(v) for k, v in raw.items() if k not in ("id", "type", "at")}
    for name, spec in FIELDS.get(event_type, {}).items():
        if name not in raw:
            raise IngestRejected(400, f"{where}.{name}: required for {event_type} events")
        try:
            fields[name] = spec.parse(raw[name])
        except ValueError as exc:
            raise IngestRejected(400, f"{where}.{name}: {exc}") from None
    return PlatformEvent(id=event_id, type=event_type, at=at, fields=fields)


def _storable(value: Any) -> Any:
    """Text PostgreSQL can store: NUL and lone UTF-16 surrogates become U+FFFD.

    JSON allows both, and platforms send them (a user name cut in the middle of an emoji);
    refusing the batch would make the platform retry it forever and lose every event in it.
    """
    if isinstance(value, str):
        if value.isascii():
            return value.replace("\x00", "\ufffd") if "\x00" in value else value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


def _jsonable(value: Any) -> Any:
    """Extra fields are kept as sent; decimals parsed exactly are stored as strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


# --- Handlers ----------------------------------------------------------------------------


class Handler(Protocol):
    def __call__(self, *, stream: Any, events: list[Any]) -> None: ...


_handlers: dict[str, Handler] = {}


def register_handler(event_type: str, handler: Handler) -> None:
    if event_type not in KNOWN_TYPES:
        raise ValueError(f"{event_type!r} is not an ingest event type")
    if _handlers.get(event_type, handler) is not handler:
        raise ValueError(f"a handler for {event_type!r} is already registered")
    _handlers[event_type] = handler


def handler_for(event_type: str) -> Handler | None:
    return _handlers.get(event_type)
