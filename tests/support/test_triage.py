"""Triage: question or chatter, category, language and product of a viewer comment."""

import pytest

from support import triage
from support.models import Category
from support.triage import LineupEntry

LINEUP = (
    LineupEntry(1, "DJ-2026-W", "白鸭绒轻薄羽绒服"),
    LineupEntry(2, "PT-0815", "High-waist wide-leg trousers"),
    LineupEntry(3, "SR-HA30", "Hydrating Serum"),
    LineupEntry(12, "SC-WOOL", "羊毛围巾"),
)


@pytest.mark.parametrize(
    ("text", "is_question", "category", "language"),
    [
        # Chinese
        ("50公斤穿什么码", True, Category.SIZE, "zh"),
        ("什么时候发货呀", True, Category.SHIPPING, "zh"),
        ("包邮吗", True, Category.SHIPPING, "zh"),
        ("包不包邮", True, Category.SHIPPING, "zh"),
        ("还有优惠券吗", True, Category.PROMO, "zh"),
        ("优惠码是多少", True, Category.PROMO, "zh"),
        ("M码还有没有", True, Category.STOCK, "zh"),
        ("能退货吗", True, Category.AFTER_SALES, "zh"),
        ("2号面料是什么", True, Category.PRODUCT, "zh"),
        ("3号链接多少钱", True, Category.PRICE, "zh"),
        ("这个适合几岁的孩子？", True, Category.PRODUCT, "zh"),
        ("主播好漂亮❤️", False, Category.OTHER, "zh"),
        ("宝宝们晚上好", False, Category.OTHER, "zh"),
        # English, typos and all
        ("what size for 50kg", True, Category.SIZE, "en"),
        ("when do u ship?", True, Category.SHIPPING, "en"),
        ("whens shiping", True, Category.SHIPPING, "en"),
        ("is the coupon still on?", True, Category.PROMO, "en"),
        ("coupon still available?", True, Category.PROMO, "en"),
        ("size M still available?", True, Category.STOCK, "en"),
        ("can i return if not fit", True, Category.AFTER_SALES, "en"),
        ("hw much no. 3", True, Category.PRICE, "en"),
        ("love this", False, Category.OTHER, "en"),
        ("what a beauty", False, Category.OTHER, "en"),
        # Malay and Indonesian
        ("berapa harga ni", True, Category.PRICE, "ms"),
        ("bila nak pos?", True, Category.SHIPPING, "ms"),
        ("saiz M ada stok tak", True, Category.STOCK, "ms"),
        ("bisa kirim ke jakarta gak", True, Category.SHIPPING, "id"),
        ("ongkir berapa kak", True, Category.SHIPPING, "id"),
        ("cantiknya", False, Category.OTHER, "en"),
        # Thai
        ("ราคาเท่าไหร่คะ", True, Category.PRICE, "th"),
        ("ไซส์อะไรสำหรับ 50 กิโล", True, Category.SIZE, "th"),
        ("สวยมาก", False, Category.OTHER, "th"),
        # Vietnamese
        ("bao nhiêu tiền vậy shop", True, Category.PRICE, "vi"),
        ("size M còn không", True, Category.STOCK, "vi"),
        ("đẹp quá", False, Category.OTHER, "vi"),
        # Nothing to read
        ("👍👍", False, Category.OTHER, "und"),
    ],
)
def test_a_comment_is_judged_by_its_words(text, is_question, category, language):
    judged = triage.classify(text, lineup=LINEUP)

    assert (judged.is_question, judged.category, judged.language) == (
        is_question,
        category,
        language,
    )


@pytest.mark.parametrize(
    ("text", "link_number"),
    [
        ("3号链接多少钱", 3),
        ("3号多少钱", 3),
        ("三号链接什么价格", 3),
        ("十二号还有吗", 12),
        ("链接12有货吗", 12),
        ("第3个链接多少钱", 3),
        ("#3 how much", 3),
        ("link 3 price?", 3),
        ("no. 3 still got?", 3),
        ("berapa harga link 3", 3),
        ("ลิงก์ 3 ราคาเท่าไหร่", 3),
        # A product named, a typo allowed; a word only one product has; a SKU.
        ("is the hydrating serun ok for oily skin?", 3),
        ("羽绒服什么码", 1),
        ("围巾有几个颜色", 12),
        ("pt-0815 what material", 2),
        # Not links: a date, a weight, a shoe size, which day, a number not on the lineup.
        ("12月3号能到吗", None),
        ("50kg穿什么码", None),
        ("42码有吗", None),
        ("几号发货", None),
        ("7号多少钱", None),
        ("what size for 160cm", None),
    ],
)
def test_the_product_asked_about_is_found(text, link_number):
    assert triage.classify(text, lineup=LINEUP).link_number == link_number


def test_without_a_lineup_any_named_link_counts():
    assert triage.classify("7号多少钱", lineup=()).link_number == 7


def test_the_channels_own_keywords_decide_a_category():
    keywords_extra = {Category.PRODUCT: ["起球"], Category.PROMO: ["宠粉"]}

    assert triage.categorise("会起球吗", keywords_extra=keywords_extra) == Category.PRODUCT
    assert triage.categorise("宠粉款还有吗", keywords_extra=keywords_extra) == Category.PROMO
    assert triage.categorise("宠粉款还有吗") == Category.STOCK


def test_extra_keywords_for_an_unknown_category_or_of_the_wrong_shape_are_ignored():
    keywords_extra = {"gossip": ["主播"], Category.SIZE: "码", Category.PRICE: [3, "福利价"]}

    assert triage.categorise("主播身高多少", keywords_extra=keywords_extra) == Category.SIZE
    assert triage.categorise("福利价多少", keywords_extra=keywords_extra) == Category.PRICE


@pytest.mark.parametrize(
    ("text", "user_id", "silenced"),
    [
        ("加微信 vx123 便宜", "u1", True),  # a blocked word
        ("VX 私聊", "u1", True),  # blocked words match whatever the case or width
        ("什么时候发货", "spammer", True),  # a muted viewer's question
        ("什么时候发货", "u1", False),
    ],
)
def test_blocked_words_and_muted_viewers_silence_a_comment(text, user_id, silenced):
    assert (
        triage.silenced(text, user_id, blocked_words=["vx", "加微信"], muted_users={"spammer"})
        is silenced
    )


def test_the_word_lists_are_segmented_with_jieba_loaded_once():
    first = triage.segment("五十公斤穿什么码")

    assert "什么码" in first
    assert triage._jieba_tokenizer is not None
    tokenizer = triage._jieba_tokenizer
    triage.segment("几号发货")
    assert triage._jieba_tokenizer is tokenizer


def test_a_worker_process_loads_the_segmenter_as_it_starts(monkeypatch):
    from celery.signals import worker_process_init

    import support.tasks  # noqa: F401  (connects the worker's start-up hook)

    monkeypatch.setattr(triage, "_jieba_tokenizer", None)

    worker_process_init.send(sender=None)

    assert triage._jieba_tokenizer is not None
    assert "什么码" in triage._jieba_tokenizer.lcut("五十公斤穿什么码")
