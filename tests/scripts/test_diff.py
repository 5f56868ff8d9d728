import pytest

from scripts.diff import (
    LineDiff,
    LineText,
    SegmentText,
    changed_keys_between,
    diff_versions,
    text_ops,
    tokens,
)


def _line(key: str, text: str, role: str = "host") -> LineText:
    return LineText(key=key, role=role, text=text)


def _segment(key: str, title: str, *lines: LineText) -> SegmentText:
    return SegmentText(key=key, title=title, lines=lines)


def _statuses(diff) -> dict[str, str]:
    return {line.key: line.status for segment in diff.segments for line in segment.lines}


def _segment_order(diff) -> list[tuple[str, str]]:
    return [(segment.key, segment.status) for segment in diff.segments]


OPENING = _segment(
    "opening",
    "开场",
    _line("l1", "家人们晚上好"),
    _line("l2", "今天全场五折", role="co_host"),
    _line("l3", "关注主播不迷路"),
)
PRODUCT = _segment(
    "product",
    "产品讲解",
    _line("l4", "直播价9.9元"),
    _line("l5", "我来试穿一下", role="actor"),
)


# --- tokens and text ops -------------------------------------------------------------------


def test_each_chinese_character_and_full_width_sign_is_its_own_token():
    assert tokens("全场，五折！") == ["全", "场", "，", "五", "折", "！"]


def test_latin_words_numbers_and_prices_stay_whole_and_whitespace_runs_are_tokens():
    assert tokens("Hi  co-host, don't miss ¥1,299 or 9.9元") == [
        "Hi",
        "  ",
        "co-host",
        ",",
        " ",
        "don't",
        " ",
        "miss",
        " ",
        "¥1,299",
        " ",
        "or",
        " ",
        "9.9",
        "元",
    ]


def test_tokens_join_back_to_the_text():
    text = "今晚8点，iPhone 15 到手价¥5,999！No.1 好物"

    assert "".join(tokens(text)) == text


def test_a_one_character_change_in_chinese_is_exactly_that_character():
    ops = text_ops("今天全场五折", "今天全场六折")

    assert ops == (("equal", "今天全场"), ("delete", "五"), ("insert", "六"), ("equal", "折"))


def test_a_changed_price_between_chinese_characters_is_reported_as_the_whole_number():
    ops = text_ops("直播价9.9元", "直播价19.9元")

    assert ops == (("equal", "直播价"), ("delete", "9.9"), ("insert", "19.9"), ("equal", "元"))


def test_a_replaced_run_of_several_tokens_is_one_delete_then_one_insert():
    ops = text_ops("到手价¥199", "到手只要¥159")

    assert ops == (("equal", "到手"), ("delete", "价¥199"), ("insert", "只要¥159"))


def test_identical_text_is_one_equal_run():
    assert text_ops("关注主播", "关注主播") == (("equal", "关注主播"),)


# --- lines -----------------------------------------------------------------------------------


def test_the_same_version_diffs_as_empty():
    diff = diff_versions([OPENING, PRODUCT], [OPENING, PRODUCT])

    assert diff.is_empty
    assert diff.changed_line_keys() == set()
    assert set(_statuses(diff).values()) == {"unchanged"}


def test_a_line_with_new_text_is_changed_with_its_word_diff():
    new_opening = _segment(
        "opening",
        "开场",
        _line("l1", "家人们晚上好"),
        _line("l2", "今天全场六折", role="co_host"),
        _line("l3", "关注主播不迷路"),
    )

    diff = diff_versions([OPENING], [new_opening])

    [line] = diff.lines_for({"l2"})
    assert line == LineDiff(
        key="l2",
        status="changed",
        role="co_host",
        old_role="co_host",
        old_text="今天全场五折",
        new_text="今天全场六折",
        ops=(("equal", "今天全场"), ("delete", "五"), ("insert", "六"), ("equal", "折")),
        old_segment_key="opening",
        new_segment_key="opening",
    )
    assert diff.changed_line_keys() == {"l2"}
    assert _segment_order(diff) == [("opening", "changed")]


def test_a_line_given_to_another_role_is_changed_with_both_roles():
    new_product = _segment(
        "product",
        "产品讲解",
        _line("l4", "直播价9.9元", role="co_host"),
        _line("l5", "我来试穿一下", role="actor"),
    )

    diff = diff_versions([PRODUCT], [new_product])

    [line] = diff.lines_for({"l4"})
    assert (line.status, line.role, line.old_role) == ("changed", "co_host", "host")
    assert line.ops == (("equal", "直播价9.9元"),)


def test_an_added_line_is_one_insert_in_its_place():
    new_product = _segment(
        "product",
        "产品讲解",
        _line("l4", "直播价9.9元"),
        _line("l9", "库存只有五百单"),
        _line("l5", "我来试穿一下", role="actor"),
    )

    diff = diff_versions([PRODUCT], [new_product])

    [segment] = diff.segments
    assert [line.key for line in segment.lines] == ["l4", "l9", "l5"]
    added = segment.lines[1]
    assert (added.status, added.old_text, added.new_text) == ("added", None, "库存只有五百单")
    assert added.ops == (("insert", "库存只有五百单"),)


def test_a_removed_line_stays_where_it_was_as_one_delete():
    new_opening = _segment(
        "opening", "开场", _line("l1", "家人们晚上好"), _line("l3", "关注主播不迷路")
    )

    diff = diff_versions([OPENING], [new_opening])

    [segment] = diff.segments
    assert [line.key for line in segment.lines] == ["l1", "l2", "l3"]
    removed = segment.lines[1]
    assert (removed.status, removed.role, removed.new_text) == ("removed", "co_host", None)
    assert removed.ops == (("delete", "今天全场五折"),)
    assert segment.status == "changed"


def test_a_line_moved_to_another_segment_is_moved_there_with_its_text_change():
    new_opening = _segment(
        "opening", "开场", _line("l1", "家人们晚上好"), _line("l3", "关注主播不迷路")
    )
    new_product = _segment(
        "product",
        "产品讲解",
        _line("l4", "直播价9.9元"),
        _line("l2", "今天全场六折", role="co_host"),
        _line("l5", "我来试穿一下", role="actor"),
    )

    diff = diff_versions([OPENING, PRODUCT], [new_opening, new_product])

    assert [line.key for line in diff.segments[0].lines] == ["l1", "l3"]
    [moved] = diff.lines_for({"l2"})
    assert (moved.status, moved.old_segment_key, moved.new_segment_key) == (
        "moved",
        "opening",
        "product",
    )
    assert moved.ops == (("equal", "今天全场"), ("delete", "五"), ("insert", "六"), ("equal", "折"))
    assert _segment_order(diff) == [("opening", "changed"), ("product", "changed")]


def test_lines_reordered_within_a_segment_mark_the_moved_line_and_change_the_segment():
    reordered = _segment(
        "opening",
        "开场",
        _line("l3", "关注主播不迷路"),
        _line("l1", "家人们晚上好"),
        _line("l2", "今天全场五折", role="co_host"),
    )

    diff = diff_versions([OPENING], [reordered])

    assert _statuses(diff) == {"l3": "moved", "l1": "unchanged", "l2": "unchanged"}
    assert _segment_order(diff) == [("opening", "changed")]


# --- segments --------------------------------------------------------------------------------


def test_a_renamed_segment_is_changed_with_both_titles():
    renamed = _segment("product", "爆款讲解", *PRODUCT.lines)

    diff = diff_versions([PRODUCT], [renamed])

    [segment] = diff.segments
    assert (segment.status, segment.title, segment.old_title) == ("changed", "爆款讲解", "产品讲解")
    assert diff.changed_line_keys() == set()
    assert not diff.is_empty


def test_segments_swapped_whole_are_moved_and_keep_new_order():
    diff = diff_versions([OPENING, PRODUCT], [PRODUCT, OPENING])

    assert [segment.key for segment in diff.segments] == ["product", "opening"]
    assert {segment.status for segment in diff.segments} <= {"moved", "unchanged"}
    assert [segment.status for segment in diff.segments].count("moved") == 1
    assert diff.changed_line_keys() == set()
    assert not diff.is_empty


def test_an_added_segment_holds_added_lines_in_new_order():
    closing = _segment("closing", "收尾", _line("l6", "下播啦"))

    diff = diff_versions([OPENING], [closing, OPENING])

    assert _segment_order(diff) == [("closing", "added"), ("opening", "unchanged")]
    assert diff.segments[0].old_title is None
    assert diff.changed_line_keys() == {"l6"}


def test_a_removed_segment_stays_where_it_was_with_its_lines_removed():
    closing = _segment("closing", "收尾", _line("l6", "下播啦"))

    diff = diff_versions([OPENING, closing, PRODUCT], [OPENING, PRODUCT])

    assert _segment_order(diff) == [
        ("opening", "unchanged"),
        ("closing", "removed"),
        ("product", "unchanged"),
    ]
    assert _statuses(diff)["l6"] == "removed"


def test_a_line_key_twice_in_one_version_is_refused():
    twice = _segment("product", "产品讲解", _line("l4", "直播价9.9元"), _line("l4", "再说一遍"))

    with pytest.raises(ValueError, match="line key"):
        diff_versions([PRODUCT], [twice])


# --- across several versions ---------------------------------------------------------------


def test_changed_keys_between_gathers_each_step_since_the_version_practised():
    v2 = [OPENING, PRODUCT]
    v3 = [
        _segment(
            "opening",
            "开场",
            _line("l1", "家人们晚上好"),
            _line("l2", "今天全场六折", role="co_host"),
            _line("l3", "关注主播不迷路"),
        ),
        PRODUCT,
    ]
    v4 = [
        _segment(
            "opening",
            "开场",
            _line("l1", "家人们晚上好"),
            _line("l2", "今天全场六折", role="co_host"),
        ),
        _segment(
            "product",
            "产品讲解",
            _line("l4", "直播价9.9元", role="co_host"),
            _line("l3", "关注主播不迷路"),
            _line("l5", "我来试穿一下", role="actor"),
            _line("l7", "三二一上链接"),
        ),
    ]

    keys = changed_keys_between([v2, v3, v4])

    assert keys == {"l2", "l3", "l4", "l7"}


def test_changed_keys_between_leaves_out_removed_lines():
    v3 = [OPENING]
    v4 = [_segment("opening", "开场", _line("l1", "家人们晚上好"), _line("l3", "关注主播不迷路"))]

    assert changed_keys_between([v3, v4]) == set()


def test_changed_keys_between_a_single_version_is_empty():
    assert changed_keys_between([[OPENING, PRODUCT]]) == set()
