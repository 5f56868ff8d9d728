"""Canned replies filled from live data (售后/客服话术).

A canned reply may name variables — {price} {regular_price} {stock} {product} {link}
{coupon} {shipping} — read when the reply is sent: the group's product as the operator last
changed it on the lineup, the newest coupon fired on the stream, the channel's shipping
time. A variable with nothing to say refuses the reply: a viewer is never sent "{price}".
"""

import re
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from rooms.models import CueState, LiveCueKind, ShowCue

from .models import CannedReply, QuestionGroup, SupportPolicy

# Platforms cap a reply's length; the tightest of ours takes 500 characters.
MAX_REPLY_CHARS = 500
REPLY_VARIABLES = ("price", "regular_price", "stock", "product", "link", "coupon", "shipping")
VARIABLE = re.compile(r"\{([A-Za-z_]+)\}")
CURRENCY_SIGNS = {
    "CNY": "¥",
    "USD": "$",
    "MYR": "RM",
    "SGD": "S$",
    "THB": "฿",
    "VND": "₫",
    "IDR": "Rp",
    "PHP": "₱",
}


def _money(amount: Decimal, currency: str) -> str:
    number = f"{amount:.0f}" if amount == amount.to_integral_value() else f"{amount:.2f}"
    sign = CURRENCY_SIGNS.get(currency)
    return f"{sign}{number}" if sign else f"{number} {currency}"


@dataclass(frozen=True)
class ReplyValue:
    """What a canned-reply variable says right now, or why it has nothing to say."""

    text: str | None
    missing: str = ""


def reply_values(group: QuestionGroup) -> dict[str, ReplyValue]:
    """Every canned-reply variable for this group, read live: the lineup as the operator
    last changed it, the newest coupon fired on the stream, the channel's shipping time."""
    stream = group.stream
    currency = stream.channel.currency
    item = (
        stream.lineup.filter(link_number=group.link_number).first()
        if group.link_number is not None
        else None
    )
    coupon = (
        ShowCue.objects.filter(
            stream=stream,
            kind=LiveCueKind.COUPON,
            state__in=[CueState.GO, CueState.CONFIRMED],
        )
        .order_by("-go_at", "-pk")
        .first()
    )
    coupon_value = coupon.params.get("value") if coupon else None
    shipping = (
        SupportPolicy.objects.filter(channel_id=stream.channel_id)
        .values_list("shipping_time", flat=True)
        .first()
    )
    if item is None:
        no_product = ReplyValue(None, _("this question names no product on the lineup"))
        values = dict.fromkeys(("price", "regular_price", "stock", "product", "link"), no_product)
    else:
        values = {
            "price": (
                ReplyValue(_money(item.live_price, currency))
                if item.live_price is not None
                else ReplyValue(None, _("the product has no live price"))
            ),
            "regular_price": ReplyValue(_money(item.regular_price, currency)),
            "stock": (
                ReplyValue(str(item.stock))
                if item.stock is not None
                else ReplyValue(None, _("the product's stock is not known"))
            ),
            "product": ReplyValue(item.name),
            "link": ReplyValue(str(item.link_number)),
        }
    return {
        **values,
        "coupon": (
            ReplyValue(_money(Decimal(coupon_value), currency))
            if coupon_value
            else ReplyValue(None, _("no coupon has been issued on this stream"))
        ),
        "shipping": (
            ReplyValue(shipping)
            if shipping
            else ReplyValue(None, _("the channel has no shipping time set"))
        ),
    }


def reply_fill(text: str, values: dict[str, ReplyValue]) -> str:
    """A canned reply with its variables filled in; refused if any has no value, so a
    viewer is never sent "{price}"."""

    def fill(match: re.Match) -> str:
        name = match.group(1)
        value = values.get(name)
        if value is None:
            raise ValidationError(
                _("The reply uses {%(name)s}, which is not a variable.") % {"name": name},
                code="missing_value",
            )
        if value.text is None:
            raise ValidationError(
                _("The reply needs {%(name)s}, but %(why)s.")
                % {"name": name, "why": value.missing},
                code="missing_value",
            )
        return value.text

    return VARIABLE.sub(fill, text)


def variables_unknown(text: str) -> list[str]:
    return sorted(set(VARIABLE.findall(text)) - set(REPLY_VARIABLES))


def filled_for_group(group: QuestionGroup) -> list[dict]:
    """Every canned reply of the group's channel as it would go out now, or why it cannot:
    what an agent's screen previews under each shortcut key."""
    values = reply_values(group)
    replies = []
    for reply in CannedReply.objects.filter(channel_id=group.stream.channel_id):
        try:
            filled, missing = reply_fill(reply.text, values), ""
        except ValidationError as refusal:
            filled, missing = None, refusal.messages[0]
        replies.append(
            {
                "id": reply.pk,
                "shortcut": reply.shortcut,
                "title": reply.title,
                "category": reply.category,
                "text": reply.text,
                "filled": filled,
                "missing": missing,
            }
        )
    return replies
