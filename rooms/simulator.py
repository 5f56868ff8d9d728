"""A simulated live room, driven through the public ingest webhook.

The audience model is simple but has the shape operators know: viewers ramp up after the
stream starts and jump each time a product is pushed, then drift back; comments scale with
the audience and repeat the same handful of questions (size, price, shipping, stock, coupon)
in Chinese and English, with typos; orders follow the pinned product, most placed orders are
paid a few seconds later and a few are refunded; the ad platform reports cumulative spend.
`rate` multiplies the audience, and with it every event stream, for load tests.
"""

import json
import math
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import httpx

from .ingest import sign

PUSH_SECONDS = 120  # a product is pushed (pinned and presented) every two minutes
VIEWER_SAMPLE_SECONDS = 5
AD_SAMPLE_SECONDS = 10


@dataclass(frozen=True)
class Product:
    link: int
    sku: str
    name: str
    price: Decimal


PRODUCTS = (
    Product(1, "SKU-SERUM-30", "玻尿酸精华 Hyaluronic serum 30ml", Decimal("129.00")),
    Product(2, "SKU-CREAM-50", "修护面霜 Repair cream 50g", Decimal("199.00")),
    Product(3, "SKU-MASK-10", "补水面膜 Hydrating masks ×10", Decimal("59.90")),
    Product(4, "SKU-SUN-50", "防晒乳 Sunscreen SPF50", Decimal("89.00")),
    Product(5, "SKU-LIP-03", "丝绒口红 Velvet lipstick #03", Decimal("79.00")),
)

QUESTIONS = {
    "size": [
        "{n}号链接是多大容量的？",
        "{n}号多少毫升",
        "what size is link {n}?",
        "how many ml is no.{n}",
        "{n}号容量多大啊",
        "size of {n}?",
    ],
    "price": [
        "{n}号多少钱",
        "{n}号链接什么价格？",
        "price for {n} pls",
        "how much is link {n}",
        "{n}号现在多少钱呀",
        "{n}号价格多少",
    ],
    "shipping": [
        "什么时候发货？",
        "几天能到",
        "多久发货啊",
        "when will it ship?",
        "shipping to KL?",
        "发什么快递",
        "when does it shipp",
    ],
    "stock": [
        "{n}号还有货吗",
        "还有库存吗",
        "{n}号没货了？",
        "is {n} sold out?",
        "any stock left for {n}",
        "{n}号补货吗",
    ],
    "coupon": [
        "优惠券在哪领",
        "还有券吗",
        "怎么领优惠券",
        "coupon code?",
        "is the coupon still on",
        "券领不了",
        "where is the voucher",
    ],
}
CHATTER = [
    "主播好美",
    "来了来了",
    "666",
    "支持支持",
    "哈哈哈",
    "love this",
    "hello from Penang",
    "第一次来",
    "已下单",
    "好用吗",
    "主播皮肤真好",
    "冲冲冲",
    "nice",
    "wow",
]
NAMES = [
    "小鱼儿",
    "糖糖",
    "阿花",
    "momo",
    "Aisyah",
    "Nurul",
    "Kevin",
    "琳琳",
    "大白",
    "橙子",
    "Mei Ling",
    "Hana",
    "小王",
    "Jessie",
    "阿珍",
    "Rizal",
    "美美",
    "Tan",
    "豆豆",
    "Lily",
]


@dataclass
class Audience:
    """The room's state; `tick` advances it and returns the platform events of that second."""

    rng: random.Random
    rate: float
    prefix: str
    started: float
    entered_total: int = 0
    online: int = 0
    counter: int = 0
    pending_payments: list[tuple[float, dict]] = field(default_factory=list)
    paid: list[dict] = field(default_factory=list)
    spend: Decimal = Decimal("0")
    impressions: int = 0
    clicks: int = 0
    ad_orders: int = 0
    ad_gmv: Decimal = Decimal("0")
    gmv: Decimal = Decimal("0")
    last_viewers: float = -math.inf
    last_ads: float = -math.inf
    # The ad campaign the spend is reported for: the same on every run, so demo data can set
    # up the campaign (and its budget) before the simulator starts.
    campaign_id: str = ""

    def pinned(self, elapsed: float) -> Product:
        return PRODUCTS[int(elapsed // PUSH_SECONDS) % len(PRODUCTS)]

    def tick(self, now: float) -> list[dict]:
        elapsed = now - self.started
        since_push = elapsed % PUSH_SECONDS
        ramp = 1 - math.exp(-elapsed / 240)
        push_boost = 0.45 * math.exp(-since_push / 50)
        target = 3000 * self.rate * (0.15 + 0.85 * ramp) * (1 + push_boost)
        self.online = max(0, int(target * self.rng.uniform(0.97, 1.03)))
        self.entered_total += self._poisson(self.online / 80)
        events: list[dict] = []
        if elapsed - self.last_viewers >= VIEWER_SAMPLE_SECONDS:
            self.last_viewers = elapsed
            events.append(
                self.event("viewers", online=self.online, entered_total=self.entered_total)
            )
        events += [self._comment(elapsed) for _ in range(self._poisson(self.online / 400))]
        events += self._orders(now, elapsed, push_boost)
        if elapsed - self.last_ads >= AD_SAMPLE_SECONDS:
            self.last_ads = elapsed
            events.append(self._ad_metrics())
        return events

    def _comment(self, elapsed: float) -> dict:
        pinned = self.pinned(elapsed)
        if self.rng.random() < 0.55:
            category = self.rng.choices(list(QUESTIONS), weights=[3, 3, 2, 2, 2])[0]
            link = pinned.link if self.rng.random() < 0.8 else self.rng.choice(PRODUCTS).link
            text = self.rng.choice(QUESTIONS[category]).format(n=link)
        else:
            text = self.rng.choice(CHATTER)
        viewer = self.rng.randrange(1, 50_000)
        return self.event(
            "comment",
            user_id=f"u{viewer}",
            user_name=self.rng.choice(NAMES) + str(viewer % 100),
            text=text,
        )

    def _orders(self, now: float, elapsed: float, push_boost: float) -> list[dict]:
        events = []
        pinned = self.pinned(elapsed)
        for _ in range(self._poisson(self.online * 0.0006 * (1 + 2 * push_boost))):
            product = pinned if self.rng.random() < 0.85 else self.rng.choice(PRODUCTS)
            quantity = self.rng.choices([1, 2, 3], weights=[80, 15, 5])[0]
            order = {
                "order_id": f"{self.prefix}-o{self.counter}",
                "sku": product.sku,
                "quantity": quantity,
                "amount": str(product.price * quantity),
            }
            events.append(self.event("order", status="placed", **order))
            if self.rng.random() < 0.88:
                self.pending_payments.append((now + self.rng.uniform(2, 20), order))
        due = [order for when, order in self.pending_payments if when <= now]
        self.pending_payments = [(w, o) for w, o in self.pending_payments if w > now]
        for order in due:
            events.append(self.event("order", status="paid", **order))
            self.paid.append(order)
            self.gmv += Decimal(order["amount"])
            if self.rng.random() < 0.03:
                events.append(self.event("order", status="refunded", **order))
        return events

    def _ad_metrics(self) -> dict:
        self.spend += Decimal(str(round(self.rng.uniform(40, 90) * self.rate, 2)))
        self.impressions += int(self.spend * 2)
        self.clicks = int(self.impressions * 0.021)
        self.ad_orders = int(len(self.paid) * 0.3)
        self.ad_gmv = (self.gmv * Decimal("0.3")).quantize(Decimal("0.01"))
        return self.event(
            "ad_metrics",
            campaign_id=self.campaign_id or f"{self.prefix}-campaign-1",
            spend=str(self.spend),
            impressions=self.impressions,
            clicks=self.clicks,
            orders=self.ad_orders,
            gmv=str(self.ad_gmv),
        )

    def event(self, type_: str, **fields) -> dict:
        self.counter += 1
        return {
            "id": f"{self.prefix}-{self.counter}",
            "type": type_,
            "at": datetime.now(UTC).isoformat(),
            **fields,
        }

    def _poisson(self, mean: float) -> int:
        if mean <= 0:
            return 0
        if mean > 30:
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        threshold, count, product = math.exp(-mean), 0, self.rng.random()
        while product > threshold:
            count += 1
            product *= self.rng.random()
        return count


@dataclass
class Webhook:
    """Signs and posts batches, retrying the same events (same ids) until they are stored."""

    base_url: str
    channel_key: str
    secret: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=30)

    def post(self, events: list[dict], *, give_up_after: float = 300) -> dict:
        body = json.dumps({"events": events}, ensure_ascii=False).encode()
        deadline = time.monotonic() + give_up_after
        delay = 0.5
        while True:
            timestamp = str(int(time.time()))
            try:
                response = self.client.post(
                    "/api/v1/ingest/events",
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-MCN-Channel": self.channel_key,
                        "X-MCN-Timestamp": timestamp,
                        "X-MCN-Signature": f"v1={sign(self.secret, timestamp, body)}",
                    },
                )
                if response.status_code == 202:
                    return response.json()
                if response.status_code < 500:
                    raise RuntimeError(
                        f"ingest refused the batch: {response.status_code} {response.text}"
                    )
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("ingest webhook unreachable")
            time.sleep(delay)
            delay = min(delay * 2, 5)


def campaign_id(channel_key: str) -> str:
    """The ad campaign id the simulator reports spend for on a channel."""
    return f"{channel_key}-campaign-1"


def run(
    *,
    webhook: Webhook,
    rate: float,
    duration: float | None,
    seed: int | None = None,
    batch_size: int = 1000,
    report: Callable[[str], None] = print,
) -> int:
    """Stream until `duration` seconds have passed (None: until interrupted)."""
    rng = random.Random(seed)
    audience = Audience(
        rng=rng,
        rate=rate,
        prefix=f"sim-{uuid.uuid4().hex[:8]}",
        started=time.monotonic(),
        campaign_id=campaign_id(webhook.channel_key),
    )
    sent = 0
    webhook.post([audience.event("stream_status", status="live")])
    next_report = time.monotonic() + 30
    try:
        for now in _seconds(audience.started, duration):
            events = audience.tick(now)
            for start in range(0, len(events), batch_size):
                webhook.post(events[start : start + batch_size])
            sent += len(events)
            if now >= next_report:
                next_report = now + 30
                report(
                    f"simulator: {sent} events sent, {audience.online} online, GMV {audience.gmv}"
                )
    finally:
        if duration is not None:
            webhook.post([audience.event("stream_status", status="ended")])
    return sent


def _seconds(started: float, duration: float | None) -> Iterator[float]:
    tick = started
    while duration is None or tick - started < duration:
        tick += 1.0
        time.sleep(max(0.0, tick - time.monotonic()))
        yield tick
