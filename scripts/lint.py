"""Compliance lint for script lines: the claims live-commerce law bans a host from making.

China's Advertising Law (广告法) art. 9 bans absolute claims (国家级、最高级、最佳 and the
like) and art. 17 bans medical claims for anything but medicines and medical devices; the
live-commerce rules (网络直播营销管理办法) hold what a host says to the same standard. The
lists below are the terms regulators and platforms flag most; a team adds its own with
`custom_terms` and clears brand names or approved phrases with `allowed_terms`.

Chinese terms match anywhere, as Chinese has no word boundaries. Latin terms match
case-insensitively and only as whole words, also beside Chinese text ("best价格"). Full-width
letters, digits and signs match as their ASCII forms (１００％ is 100%).
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.utils.translation import gettext as _

ABSOLUTE = "absolute"
EFFICACY = "efficacy"
CUSTOM = "custom"
ERROR = "error"
WARNING = "warning"

# Absolute claims (绝对化用语), errors: Advertising Law art. 9.
ABSOLUTE_TERMS: tuple[str, ...] = (
    "全网最低",
    "最低价",
    "史上最低",
    "最便宜",
    "最好",
    "最佳",
    "最优",
    "最强",
    "第一",
    "全国第一",
    "销量第一",
    "唯一",
    "独家",
    "顶级",
    "极品",
    "国家级",
    "世界级",
    "100%",
    "百分百",
    "绝对",
    "万能",
    "永久",
    "首选",
    "秒杀全网",
)
ABSOLUTE_TERMS_EN: tuple[str, ...] = (
    "best",
    "cheapest",
    "lowest price",
    "lowest prices",
    "number one",
    "No.1",
    "No. 1",
    "No1",
    "#1",
    "100%",
    "guaranteed",
    "miracle",
    "miracles",
)
# 第一 as an ordinal is everyday speech (第一次来直播间, 第一个链接, 第一时间下单), not a
# ranking claim, so it is not flagged when one of these follows it.
ORDINAL_AFTER_FIRST: tuple[str, ...] = (
    *"次个步天轮波场期批排件单号位集章节百千万",
    "时间",
)

# Medical and efficacy claims (医疗用语、功效宣称), errors: Advertising Law art. 17.
EFFICACY_TERMS: tuple[str, ...] = (
    "治疗",
    "治愈",
    "药到病除",
    "根治",
    "消炎",
    "抗癌",
    "减肥",
    "瘦身",
    "祛斑",
    "丰胸",
    "增高",
    "防脱发",
)
EFFICACY_TERMS_EN: tuple[str, ...] = (
    "cure",
    "cures",
    "cured",
    "heal",
    "heals",
    "healed",
    "healing",
    "treat disease",
    "treats disease",
    "treat diseases",
    "treats diseases",
    "anti-cancer",
    "anticancer",
    "weight loss",
    "weight-loss",
)
# Cosmetics efficacy claims, warnings: lawful only for a product registered as a special
# cosmetic (特殊化妆品) for that effect, which the host should check.
COSMETIC_CLAIM_TERMS: tuple[str, ...] = ("美白",)

# 最 before a Han character reads as a superlative (最新, 最多, 最火), a warning. These
# words are time and order, not praise, and pass. Terms above that start with 最 are errors.
SUPERLATIVE_ALLOWED: tuple[str, ...] = ("最近", "最后", "最初", "最终")


@dataclass(frozen=True)
class Finding:
    start: int  # character offsets into the line text
    end: int
    term: str  # the matched text
    rule: str  # "absolute" | "efficacy" | "custom"
    severity: str  # "error" | "warning"
    message: str


def lint_text(
    text: str, *, custom_terms: Sequence[str] = (), allowed_terms: Sequence[str] = ()
) -> list[Finding]:
    """Claims in one line, in text order, none overlapping: where matches overlap the longest
    is kept (then errors over warnings, built-in over custom). A match inside an occurrence of
    an allowed term (or equal to one) is dropped before overlaps are settled."""
    return _lint(text, _custom(tuple(custom_terms)), _terms_pattern(tuple(allowed_terms)))


def lint_lines(
    lines: Sequence[tuple[str, str]],
    *,
    custom_terms: Sequence[str] = (),
    allowed_terms: Sequence[str] = (),
) -> dict[str, list[Finding]]:
    """Line key → its findings (an empty list for a clean line), for (key, text) pairs."""
    custom = _custom(tuple(custom_terms))
    allowed = _terms_pattern(tuple(allowed_terms))
    return {key: _lint(text, custom, allowed) for key, text in lines}


def has_errors(findings_by_line: Mapping[str, Iterable[Finding]]) -> bool:
    return any(
        finding.severity == ERROR for findings in findings_by_line.values() for finding in findings
    )


# --- Matching ----------------------------------------------------------------------------

# Full-width ASCII and the ideographic space, folded one character to one so offsets hold.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_LATIN = "[0-9A-Za-z]"
_HAN = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern
    rule: str
    severity: str
    kind: str  # which message


def _literal(term: str) -> str:
    """A term as a regex: whitespace as any whitespace, and whole words where it is Latin."""
    pattern = r"\s+".join(re.escape(word) for word in term.split())
    if re.match(_LATIN, term):
        pattern = f"(?<!{_LATIN}){pattern}"
    if re.match(_LATIN, term[-1]):
        pattern = f"{pattern}(?!{_LATIN})"
    if term == "第一":
        pattern += "(?!" + "|".join(map(re.escape, ORDINAL_AFTER_FIRST)) + ")"
    return pattern


def _every_start(*alternatives: str) -> re.Pattern:
    """Finds, at each position, the first alternative matching there: a lookahead matches at
    every position, so overlapping terms (全网最低, 最低价) are all seen."""
    return re.compile("(?=(" + "|".join(alternatives) + "))", re.IGNORECASE)


def _any_term(terms: Iterable[str]) -> re.Pattern:
    """Longest terms first, so that at each position the longest one matching is found."""
    return _every_start(*map(_literal, sorted(set(terms), key=len, reverse=True)))


@lru_cache(maxsize=64)
def _terms_pattern(terms: tuple[str, ...]) -> re.Pattern | None:
    cleaned = [term.strip().translate(_FOLD) for term in terms if term.strip()]
    return _any_term(cleaned) if cleaned else None


@lru_cache(maxsize=64)
def _custom(terms: tuple[str, ...]) -> tuple[_Rule, ...]:
    pattern = _terms_pattern(terms)
    return (_Rule(pattern, CUSTOM, ERROR, CUSTOM),) if pattern else ()


_BUILT_IN = (
    _Rule(_any_term(ABSOLUTE_TERMS + ABSOLUTE_TERMS_EN), ABSOLUTE, ERROR, "absolute"),
    _Rule(
        _every_start("最(?!" + "|".join(word[1:] for word in SUPERLATIVE_ALLOWED) + f"){_HAN}"),
        ABSOLUTE,
        WARNING,
        "superlative",
    ),
    _Rule(_any_term(EFFICACY_TERMS + EFFICACY_TERMS_EN), EFFICACY, ERROR, "efficacy"),
    _Rule(_any_term(COSMETIC_CLAIM_TERMS), EFFICACY, WARNING, "cosmetic"),
)
_RANK = {ERROR: 0, WARNING: 1}
_RULE_RANK = {ABSOLUTE: 0, EFFICACY: 0, CUSTOM: 1}


def _lint(text: str, custom: tuple[_Rule, ...], allowed: re.Pattern | None) -> list[Finding]:
    folded = text.translate(_FOLD)
    allowed_spans = (
        [(match.start(1), match.end(1)) for match in allowed.finditer(folded)] if allowed else []
    )
    candidates = []
    for rule in (*_BUILT_IN, *custom):
        for match in rule.pattern.finditer(folded):
            start, end = match.start(1), match.end(1)
            if not any(a <= start and end <= b for a, b in allowed_spans):
                candidates.append((start, end, rule))
    candidates.sort(key=lambda c: (c[0] - c[1], _RANK[c[2].severity], _RULE_RANK[c[2].rule], c[0]))
    kept: list[tuple[int, int, _Rule]] = []
    for start, end, rule in candidates:
        if all(end <= other_start or other_end <= start for other_start, other_end, _ in kept):
            kept.append((start, end, rule))
    kept.sort(key=lambda c: c[0])
    return [
        Finding(
            start,
            end,
            text[start:end],
            rule.rule,
            rule.severity,
            _message(rule.kind, text[start:end]),
        )
        for start, end, rule in kept
    ]


def _message(kind: str, term: str) -> str:
    if kind == "absolute":
        message = _("“%(term)s” is an absolute claim, which advertising law bans.")
    elif kind == "superlative":
        message = _("“%(term)s” reads as a superlative; make sure it is not an absolute claim.")
    elif kind == "efficacy":
        message = _(
            "“%(term)s” is a medical or efficacy claim, which only medicines and medical "
            "devices may make."
        )
    elif kind == "cosmetic":
        message = _(
            "“%(term)s” is a cosmetics efficacy claim; only a product registered for that "
            "effect may make it."
        )
    else:
        message = _("“%(term)s” is on your team's list of terms not to say.")
    return message % {"term": term}
