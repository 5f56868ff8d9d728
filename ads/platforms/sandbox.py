"""The sandbox ad platform: the default adapter, and the double every test runs against.

It behaves like the real APIs, on its own `SandboxCampaign` rows: it enforces the daily
change quota and the minimum step itself (refusing with an error code, as Qianchuan does),
and it applies a budget *addition* every time one is sent — the request id is ignored, as
随心推's add ignores it — so a caller that retries blindly spends twice, here as there.

It is written as a small server and a client. The server answers each call with an HTTP
status and a JSON body shaped like the platforms' (`{"code", "message", "request_id",
"data"}`); the adapter turns that answer into a result or one of the interface's
exceptions. TikTok reports throttling as HTTP 200 with error code 40100 in the body, and so
does the sandbox: only the adapter's reading of the body makes it a failure.

For tests and demos it can be told to fail (`faults_set`): the next calls time out before
the change lands or after it landed (the answer is lost), are throttled, are refused, or
land and then answer 500 (a partial failure) — or the worker making the call dies the
moment its change lands (`crash_after`: `WorkerKilled`, a BaseException no handler catches,
so nothing after the call runs). The counters live in Redis, so a switch thrown by a test
reaches the Celery worker that makes the call.
"""

from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from .. import guardrails
from ..models import Campaign, SandboxCampaign
from . import (
    Budget,
    Exchange,
    PlatformRejected,
    PlatformServerError,
    PlatformThrottled,
    PlatformTimeout,
    Receipt,
)

# Changes (set, add, pause) take these faults, in this order of precedence ...
CHANGE_FAULTS = (
    "rejected",
    "throttled",
    "lost_before",
    "server_error",
    "lost_after",
    "crash_after",
)
# ... and reads these.
READ_FAULTS = ("read_lost", "read_throttled")
FAULT_KEYS = {kind: f"ads:sandbox-platform:{kind}" for kind in CHANGE_FAULTS + READ_FAULTS}
FAULT_TTL_SECONDS = 3600

CODE_OK = 0
CODE_THROTTLED = 40100  # "Too many requests", answered with HTTP 200 (as TikTok does)
CODE_BELOW_MIN_STEP = 40011
CODE_QUOTA_USED = 40910
CODE_NOT_ALLOWED = 40003


class WorkerKilled(BaseException):
    """The process making the call died right after the platform applied it."""


def faults_set(
    *,
    rejected: int = 0,
    throttled: int = 0,
    lost_before: int = 0,
    server_error: int = 0,
    lost_after: int = 0,
    crash_after: int = 0,
    read_lost: int = 0,
    read_throttled: int = 0,
) -> None:
    """Make the next calls fail. Changes: `rejected` of them refused for good, `throttled`
    answered 200 with the throttling code, `lost_before` time out before the change lands,
    `server_error` land and then answer 500, `lost_after` land and lose their answer,
    `crash_after` land and kill the caller.
    Reads: `read_lost` time out, `read_throttled` are throttled."""
    counts = {
        "rejected": rejected,
        "throttled": throttled,
        "lost_before": lost_before,
        "server_error": server_error,
        "lost_after": lost_after,
        "crash_after": crash_after,
        "read_lost": read_lost,
        "read_throttled": read_throttled,
    }
    for kind, count in counts.items():
        cache.set(FAULT_KEYS[kind], count, FAULT_TTL_SECONDS)


def _fault(kind: str) -> bool:
    try:
        left = cache.decr(FAULT_KEYS[kind])
    except ValueError:  # no switch set
        return False
    return left >= 0


def _body(code: int, message: str, request_id: str, data: dict | None = None) -> dict:
    return {"code": code, "message": message, "request_id": request_id, "data": data or {}}


def _record(campaign: Campaign) -> SandboxCampaign:
    """The platform's row for the campaign, locked. The sandbox adopts a campaign it has
    not seen with the budget the console holds for it, as if it had been set up there."""
    SandboxCampaign.objects.get_or_create(
        external_id=campaign.external_id,
        defaults={"budget": campaign.budget, "paused": campaign.paused},
    )
    return SandboxCampaign.objects.select_for_update().get(external_id=campaign.external_id)


def _state(row: SandboxCampaign) -> dict:
    return {"budget": str(row.budget), "paused": row.paused, "changes_today": row.changes_today}


class SandboxServer:
    """The platform's side: answers (status, body), changing its records as a platform would."""

    def read(self, campaign: Campaign, request_id: str) -> tuple[int, dict]:
        with transaction.atomic():
            row = _record(campaign)
        return 200, _body(CODE_OK, "OK", request_id, _state(row))

    def change(
        self, campaign: Campaign, op: str, value: Decimal | None, request_id: str
    ) -> tuple[int, dict]:
        account = campaign.account
        today = guardrails.local_day(account)
        with transaction.atomic():
            row = _record(campaign)
            if row.changes_day != today:
                row.changes_day, row.changes_today = today, 0
            if op == "pause":
                row.paused = True
                row.save(update_fields=["paused", "changes_day", "changes_today"])
                return 200, _body(CODE_OK, "OK", request_id, _state(row) | {"change_id": ""})
            delta = value if op == "add" else value - row.budget
            if op == "set" and delta == 0:
                # Setting what is already set changes nothing and costs no quota.
                return 200, _body(CODE_OK, "OK", request_id, _state(row) | {"change_id": ""})
            if op == "add" and value <= 0:
                return 200, _body(CODE_NOT_ALLOWED, "budget add must be positive", request_id)
            if abs(delta) < account.min_step:
                return 200, _body(
                    CODE_BELOW_MIN_STEP,
                    f"budget change {abs(delta)} is below the minimum step {account.min_step}",
                    request_id,
                )
            if row.changes_today >= account.daily_change_quota:
                return 200, _body(
                    CODE_QUOTA_USED,
                    f"budget changed {row.changes_today} times today, "
                    f"the limit is {account.daily_change_quota}",
                    request_id,
                )
            row.budget += delta
            row.changes_today += 1
            row.save(update_fields=["budget", "changes_day", "changes_today"])
            change_id = f"sbx-{row.external_id}-{today:%Y%m%d}-{row.changes_today}"
        return 200, _body(CODE_OK, "OK", request_id, _state(row) | {"change_id": change_id})


class SandboxAdapter:
    """The console's side: what every platform adapter does, against the sandbox server."""

    def __init__(self, server: SandboxServer | None = None) -> None:
        self.server = server or SandboxServer()

    def read_budget(self, campaign: Campaign) -> Budget:
        request_id = f"read-{campaign.external_id}-{timezone.now():%H%M%S%f}"
        request = {"campaign_id": campaign.external_id, "request_id": request_id}
        if _fault("read_lost"):
            raise PlatformTimeout(
                "sandbox: the budget read timed out", exchange=Exchange("read_budget", request)
            )
        if _fault("read_throttled"):
            status, body = 200, _body(CODE_THROTTLED, "Too many requests", request_id)
        else:
            status, body = self.server.read(campaign, request_id)
        exchange = Exchange("read_budget", request, status, body)
        data = self._data(status, body, exchange)
        return Budget(Decimal(data["budget"]), bool(data["paused"]), exchange)

    def set_budget(self, campaign: Campaign, target: Decimal, request_id: str) -> Receipt:
        return self._change(campaign, "set", target, request_id)

    def add_budget(self, campaign: Campaign, amount: Decimal, request_id: str) -> Receipt:
        return self._change(campaign, "add", amount, request_id)

    def pause(self, campaign: Campaign, request_id: str) -> Receipt:
        return self._change(campaign, "pause", None, request_id)

    def _change(
        self, campaign: Campaign, op: str, value: Decimal | None, request_id: str
    ) -> Receipt:
        method = {"set": "set_budget", "add": "add_budget", "pause": "pause"}[op]
        request = {"campaign_id": campaign.external_id, "request_id": request_id}
        if value is not None:
            request["budget" if op == "set" else "amount"] = str(value)
        if _fault("rejected"):
            status, body = 200, _body(CODE_NOT_ALLOWED, "campaign is under review", request_id)
        elif _fault("throttled"):
            status, body = 200, _body(CODE_THROTTLED, "Too many requests", request_id)
        elif _fault("lost_before"):
            raise PlatformTimeout(
                "sandbox: timed out before the change landed", exchange=Exchange(method, request)
            )
        else:
            status, body = self.server.change(campaign, op, value, request_id)
            if status == 200 and body["code"] == CODE_OK:
                if _fault("server_error"):
                    status = 500
                    body = _body(50000, "internal error", request_id)
                elif _fault("lost_after"):
                    raise PlatformTimeout(
                        "sandbox: the change landed, but its answer was lost",
                        exchange=Exchange(method, request),
                    )
                elif _fault("crash_after"):
                    raise WorkerKilled(f"sandbox: the worker died after {method} landed")
        exchange = Exchange(method, request, status, body)
        data = self._data(status, body, exchange)
        return Receipt(data.get("change_id", ""), exchange)

    @staticmethod
    def _data(status: int, body: dict, exchange: Exchange) -> dict:
        """The body's data, or the exception its status and code amount to."""
        if status >= 500:
            raise PlatformServerError(
                f"sandbox: HTTP {status}", code=str(body.get("code", "")), exchange=exchange
            )
        code, message = body.get("code"), body.get("message", "")
        if status == 429 or code == CODE_THROTTLED:
            raise PlatformThrottled(f"sandbox: {message}", code=str(code), exchange=exchange)
        if status != 200 or code != CODE_OK:
            raise PlatformRejected(f"sandbox: {message}", code=str(code), exchange=exchange)
        return body["data"]
