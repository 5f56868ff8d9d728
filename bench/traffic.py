"""Realistic platform events for load, in the simulator's vocabulary.

The simulator (`rooms.simulator`) paces events by a modelled audience; a benchmark needs a
fixed rate instead, so this draws the same comments, products and names at whatever rate
it is asked for: mostly comments, an order placed or paid now and then, a viewer sample in
every batch.
"""

import random
from datetime import UTC, datetime

from rooms.simulator import CHATTER, NAMES, PRODUCTS, QUESTIONS

ORDER_SHARE = 0.12


class PlatformTraffic:
    """Ingest webhook events whose ids are unique to `prefix`."""

    def __init__(self, prefix: str, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.counter = 0
        self.online = 40_000
        self.entered_total = 120_000
        self.orders = 0

    def batch(self, size: int) -> list[dict]:
        events = [self.viewers()]
        while len(events) < size:
            events.append(self.order() if self.rng.random() < ORDER_SHARE else self.comment())
        return events

    def comment(self) -> dict:
        return self._event("comment", **comment_fields(self.rng))

    def order(self) -> dict:
        self.orders += 1
        product = self.rng.choice(PRODUCTS)
        quantity = self.rng.choices([1, 2, 3], weights=[80, 15, 5])[0]
        return self._event(
            "order",
            order_id=f"{self.prefix}-o{self.orders}",
            sku=product.sku,
            quantity=quantity,
            amount=str(product.price * quantity),
            status=self.rng.choices(["placed", "paid", "refunded"], weights=[55, 43, 2])[0],
        )

    def viewers(self) -> dict:
        self.online = max(1000, self.online + self.rng.randint(-400, 500))
        self.entered_total += self.rng.randint(50, 400)
        return self._event("viewers", online=self.online, entered_total=self.entered_total)

    def _event(self, type_: str, **fields) -> dict:
        self.counter += 1
        return {
            "id": f"{self.prefix}-{self.counter}",
            "type": type_,
            "at": datetime.now(UTC).isoformat(),
            **fields,
        }


def comment_fields(rng: random.Random) -> dict[str, str]:
    if rng.random() < 0.55:
        category = rng.choice(list(QUESTIONS))
        text = rng.choice(QUESTIONS[category]).format(n=rng.choice(PRODUCTS).link)
    else:
        text = rng.choice(CHATTER)
    viewer = rng.randrange(1, 50_000)
    return {
        "user_id": f"u{viewer}",
        "user_name": rng.choice(NAMES) + str(viewer % 100),
        "text": text,
    }


def comment_event_data(rng: random.Random) -> dict:
    """The data of a `comment.received` log event, as `support.events` writes it."""
    return {**comment_fields(rng), "platform_at": datetime.now(UTC).isoformat()}
