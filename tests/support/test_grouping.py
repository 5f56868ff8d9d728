"""Grouping: near-duplicate questions fold into one group across wording, typos, emoji and
languages, measured on labelled chat (tests/support/grouping_cases.py) by pairwise precision
and recall; the figures are recorded in docs/benchmarks.md ("Support: grouping quality")."""

from dataclasses import dataclass
from itertools import combinations

import pytest

from support import grouping, triage
from support.grouping import GroupIndex, analyse
from support.models import Category
from tests.support.grouping_cases import CASES, HELD_OUT, LINEUP, UNSEEN


@dataclass(frozen=True)
class Quality:
    precision: float
    recall: float
    true_pairs: int
    false_pairs: int
    missed_pairs: int


def fold_chat(cases: list[tuple[str | None, str]]) -> list[object | None]:
    """Run a chat through triage and grouping as the intake does, in order: the group each
    comment landed in, None for a comment not taken as a question."""
    index = GroupIndex()
    product_words = triage.product_words(LINEUP)
    landed: list[object | None] = []
    for position, (_label, text) in enumerate(cases):
        judged = triage.classify(text, lineup=LINEUP)
        if not judged.is_question:
            landed.append(None)
            continue
        analysis = analyse(text, product_words=product_words)
        group = index.find(analysis, category=judged.category, link_number=judged.link_number)
        if group is None:
            group = position
            index.add(
                group,
                category=judged.category,
                link_number=judged.link_number,
                signature=analysis.signature,
            )
        landed.append(group)
    return landed


def pairwise(cases: list[tuple[str | None, str]], landed: list[object | None]) -> Quality:
    """Over every pair of comments: a true pair shares a label and a group, a false pair
    shares a group but not a label, a missed pair shares a label but not a group. Chatter
    has no label, so any group it lands in with a question is a false pair."""
    labels = [label or f"chatter-{n}" for n, (label, _text) in enumerate(cases)]
    true = false = missed = 0
    for a, b in combinations(range(len(cases)), 2):
        same_label = labels[a] == labels[b]
        same_group = landed[a] is not None and landed[a] == landed[b]
        true += same_label and same_group
        false += same_group and not same_label
        missed += same_label and not same_group
    return Quality(
        precision=true / (true + false) if true + false else 1.0,
        recall=true / (true + missed) if true + missed else 1.0,
        true_pairs=true,
        false_pairs=false,
        missed_pairs=missed,
    )


# --- Quality on labelled chat -----------------------------------------------------------------

# Floors set at what was measured (docs/benchmarks.md), rounded down to a multiple of 0.05.
# CASES is the set the lexicon was tuned on; HELD_OUT was looked at once and the lexicon
# widened for what it showed; UNSEEN was measured before anything was changed for it.
SETS = {
    "CASES": (CASES, 0.95, 0.90),
    "HELD_OUT": (HELD_OUT, 0.95, 0.95),
    "UNSEEN": (UNSEEN, 0.95, 0.80),
}


def test_the_fixture_is_big_enough_to_mean_something():
    labels = [label for label, _text in CASES if label]
    groups = {label for label in labels if labels.count(label) > 1}

    assert len(CASES) >= 120
    assert len(groups) >= 15


@pytest.mark.parametrize("name", SETS)
def test_labelled_chat_groups_with_high_precision_and_recall(name):
    cases, precision_floor, recall_floor = SETS[name]

    quality = pairwise(cases, fold_chat(cases))

    assert quality.precision >= precision_floor, quality
    assert quality.recall >= recall_floor, quality


def test_all_the_labelled_chat_together_meets_the_issues_targets():
    totals = [pairwise(cases, fold_chat(cases)) for cases, _p, _r in SETS.values()]
    true = sum(quality.true_pairs for quality in totals)
    false = sum(quality.false_pairs for quality in totals)
    missed = sum(quality.missed_pairs for quality in totals)

    assert true / (true + false) >= 0.95
    assert true / (true + missed) >= 0.85


@pytest.mark.parametrize("name", SETS)
def test_every_labelled_question_is_taken_for_one_and_no_chatter_is(name):
    cases, _precision, _recall = SETS[name]

    landed = fold_chat(cases)

    assert [
        text for (label, text), group in zip(cases, landed, strict=True) if label and group is None
    ] == []
    assert [
        text for (label, text), group in zip(cases, landed, strict=True) if not label and group
    ] == []


# --- How a question is read -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("what size for 50kg", "50公斤穿什么码"),
        ("100斤穿多大码", "50kg what size ah"),
        ("一百斤穿什么码", "ไซส์อะไรสำหรับ 50 กิโล"),
        ("wat szie for 50kg??", "saiz apa untuk 50kg"),
        ("什么时候发货啊啊啊🙏", "when will it ship"),
        ("还有优惠券吗", "is the coupon still on?"),
        ("包邮吗亲亲", "free shipping?"),
        ("M码还有吗", "size M still available?"),
        ("身高160cm穿哪个码", "1米6穿多大码"),
    ],
)
def test_the_same_question_in_other_words_or_languages_reads_the_same(one, other):
    assert analyse(one).signature == analyse(other).signature


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("50公斤穿什么码", "60公斤穿什么码"),  # another weight, another answer
        ("M码还有吗", "L码还有吗"),
        ("什么时候发货", "几天能到"),  # dispatch is not delivery
        ("优惠券怎么领", "还有优惠券吗"),  # how to claim is not whether it is on
        ("福袋什么时候开", "福袋怎么参加"),
    ],
)
def test_different_questions_read_differently(one, other):
    assert analyse(one).signature != analyse(other).signature


def test_normalisation_drops_emoji_punctuation_and_repeats_but_keeps_numbers():
    assert analyse("什么时候发货？？？😭😭😭") == analyse("什么时候发货")
    assert analyse("whennnn shiiip!!!") == analyse("when ship")
    assert analyse("买1000件有优惠吗").residue == ("1000",)


def test_link_numbers_and_product_names_are_left_to_the_product_match():
    words = triage.product_words(LINEUP)

    assert analyse("3号链接多少钱").signature == analyse("how much is link 3").signature
    assert analyse("阔腿裤多少钱", product_words=words).signature == "@price"


def test_a_signature_fits_its_column_whatever_the_comment():
    signature = analyse("质量 " * 500 + "多少钱").signature

    assert len(signature) <= grouping.SIGNATURE_MAX_LENGTH


# --- Folding among open groups ------------------------------------------------------------------


def test_a_question_joins_the_open_group_of_its_category_product_and_measures():
    index = GroupIndex()
    index.add(1, category=Category.SIZE, link_number=None, signature="@size =50kg")
    index.add(2, category=Category.SIZE, link_number=3, signature="@size =50kg")
    index.add(3, category=Category.SIZE, link_number=None, signature="@size =60kg")
    question = analyse("what size for 50kg")

    assert index.find(question, category=Category.SIZE, link_number=None) == 1
    assert index.find(question, category=Category.SIZE, link_number=3) == 2
    assert index.find(question, category=Category.SIZE, link_number=4) is None
    assert index.find(question, category=Category.STOCK, link_number=None) is None


def test_words_the_lexicon_does_not_know_are_compared_with_typos_allowed():
    index = GroupIndex()
    index.add(
        1,
        category=Category.SHIPPING,
        link_number=None,
        signature=analyse("can ship to brunei?").signature,
    )

    def find(text):
        return index.find(analyse(text), category=Category.SHIPPING, link_number=None)

    assert find("ship to brunie ah?") == 1
    assert find("can ship to sabah?") is None


def test_unknown_words_on_one_side_only_do_not_keep_a_question_out():
    index = GroupIndex()
    index.add(1, category=Category.SHIPPING, link_number=None, signature="@ship @when")

    found = index.find(
        analyse("order today when ship?"), category=Category.SHIPPING, link_number=None
    )

    assert found == 1
