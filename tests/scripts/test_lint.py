import pytest
from django.utils import translation

from scripts.lint import Finding, has_errors, lint_lines, lint_text


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _found(text: str, **terms) -> list[tuple[int, int, str, str, str]]:
    return [(f.start, f.end, f.term, f.rule, f.severity) for f in lint_text(text, **terms)]


def test_lowest_price_on_the_whole_internet_is_one_error_for_the_longest_claim():
    assert _found("全网最低价") == [(0, 4, "全网最低", "absolute", "error")]


def test_lowest_price_alone_is_one_error_not_also_a_superlative_warning():
    assert _found("今天最低价") == [(2, 5, "最低价", "absolute", "error")]


def test_best_is_an_absolute_claim_with_a_message_naming_it():
    findings = lint_text("这是最好的面膜")

    assert findings == [
        Finding(
            start=2,
            end=4,
            term="最好",
            rule="absolute",
            severity="error",
            message="“最好” is an absolute claim, which advertising law bans.",
        )
    ]


def test_recently_is_not_a_superlative():
    assert _found("最近很多宝宝问") == []


def test_other_superlatives_are_warnings():
    assert _found("每人最多三件") == [(2, 4, "最多", "absolute", "warning")]


def test_first_as_a_ranking_is_flagged_but_as_an_ordinal_is_not():
    assert _found("销量第一") == [(0, 4, "销量第一", "absolute", "error")]
    assert _found("第一次来直播间的宝宝，第一时间下单") == []


def test_english_claims_match_whatever_the_case_and_beside_chinese():
    assert _found("Best price! 全场best价格") == [
        (0, 4, "Best", "absolute", "error"),
        (14, 18, "best", "absolute", "error"),
    ]


def test_english_claims_match_only_whole_words():
    assert _found("our bestseller is healthy") == []


def test_one_hundred_percent_is_flagged_in_ascii_and_full_width():
    assert _found("100%纯棉") == [(0, 4, "100%", "absolute", "error")]
    assert _found("１００％纯棉") == [(0, 4, "１００％", "absolute", "error")]


def test_medical_claims_are_errors_and_whitening_is_a_warning():
    assert _found("治疗失眠，还能美白") == [
        (0, 2, "治疗", "efficacy", "error"),
        (7, 9, "美白", "efficacy", "warning"),
    ]


def test_english_medical_claims_are_errors():
    assert _found("It heals acne and helps weight loss") == [
        (3, 8, "heals", "efficacy", "error"),
        (24, 35, "weight loss", "efficacy", "error"),
    ]


def test_a_custom_term_is_an_error_wherever_it_appears():
    assert _found("假一赔十，保真", custom_terms=["保真", "假一赔十"]) == [
        (0, 4, "假一赔十", "custom", "error"),
        (5, 7, "保真", "custom", "error"),
    ]


def test_an_allowed_term_suppresses_findings_of_that_term():
    assert _found("品牌独家授权", allowed_terms=["独家"]) == []


def test_an_allowed_phrase_suppresses_the_findings_inside_it():
    assert _found("极品飞车联名款，最好看", allowed_terms=["极品飞车"]) == [
        (8, 10, "最好", "absolute", "error")
    ]


def test_an_allowed_term_leaves_longer_claims_that_contain_it():
    assert _found("全国第一", allowed_terms=["第一"]) == [(0, 4, "全国第一", "absolute", "error")]


def test_lint_lines_maps_every_line_key_to_its_findings():
    findings = lint_lines([("l1", "家人们晚上好"), ("l2", "全网最低价")])

    assert findings["l1"] == []
    assert [f.term for f in findings["l2"]] == ["全网最低"]


def test_has_errors_is_true_when_any_line_has_an_error():
    assert has_errors(lint_lines([("l1", "每人最多三件"), ("l2", "独家")]))


def test_has_errors_is_false_for_warnings_only():
    assert not has_errors(lint_lines([("l1", "每人最多三件"), ("l2", "美白")]))
