"""Demo support data for `seed_demo`: each demo channel's reply window and shipping time,
and canned replies on keys 1–5 that fill in the live price and stock."""

from datetime import timedelta

from rooms.demo import DemoWorld

from . import services
from .models import CannedReply, Category

CANNED_REPLIES = (
    (1, "Price", "{product} 直播间价格 {price}（日常价 {regular_price}）", Category.PRICE),
    (2, "Stock", "{product} 还有 {stock} 件，喜欢的宝宝抓紧拍哦", Category.STOCK),
    (3, "Shipping", "下单后 {shipping} 发货，包邮 Ships {shipping}", Category.SHIPPING),
    (4, "Size", "按平时尺码拍就可以，拿不准可以告诉我身高体重帮您推荐", Category.SIZE),
    (5, "Link", "{product} 是 {link} 号链接，点购物车就能看到", Category.PRODUCT),
)


def seed(world: DemoWorld) -> None:
    for channel in world.channels.values():
        services.support_policy_update(
            actor=None,
            channel=channel,
            sla=timedelta(minutes=3),
            warn_before=timedelta(minutes=1),
            keywords={},
            blocked_words=["加微信", "代购"],
            muted_users=[],
            vip_users=[],
            shipping_time="48 小时内 within 48 h",
        )
        for shortcut, title, text, category in CANNED_REPLIES:
            if not CannedReply.objects.filter(channel=channel, shortcut=shortcut).exists():
                services.canned_reply_create(
                    actor=None,
                    channel=channel,
                    title=title,
                    text=text,
                    shortcut=shortcut,
                    category=category,
                )
