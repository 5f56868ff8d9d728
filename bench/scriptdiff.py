"""Script diff: what changed between two 2,000-line versions of a show's script.

Two synthetic versions of one script: 60 segments, 2,000 lines spread over the eight crew
roles, each line about 40 Chinese characters with prices in it. The new version edits 5% of
the lines (one character, a price, or a phrase), gives a few lines to another role, moves
some to other segments, adds and removes some, and renames one segment. `diff_versions` runs
in this process, once untimed and then `repeats` times; the target is well under 200 ms.
"""

import random
import time
from collections import Counter
from dataclasses import replace

from rooms.models import CrewRole
from scripts.diff import LineText, SegmentText, diff_versions

from .harness import emit, log
from .stats import percentiles_ms

LINES = 2000
SEGMENTS = 60
EDITED = 100  # 5% of the lines
ROLE_CHANGES = 10
MOVED = 10
ADDED = 10
REMOVED = 10
TARGET_MS = 200

PHRASES = (
    "家人们晚上好",
    "欢迎来到直播间",
    "今天全场五折",
    "直播价只要{price}元",
    "原价{price}元",
    "到手价¥{price}",
    "库存只有五百单",
    "拍一发二",
    "三二一上链接",
    "点点关注不迷路",
    "这款面膜补水效果特别明显",
    "我们来看一下上身效果",
    "运费险已经给大家安排上了",
    "七天无理由退换",
    "小黄车第三号链接",
    "主播自己也在用",
    "这个价格只有今晚有",
    "喜欢的宝宝抓紧时间下单",
    "面料是纯棉的很透气",
    "买两件再减二十元",
)


def run(env: dict[str, str], *, repeats: int) -> dict:
    rng = random.Random(20240601)
    old = _version(rng)
    new, expected = _edit(old, rng)
    log(f"scriptdiff: diffing {LINES} lines in {SEGMENTS} segments, {repeats} runs")
    diff = diff_versions(old, new)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        diff_versions(old, new)
        samples.append((time.perf_counter() - started) * 1000)
    found = Counter(line.status for segment in diff.segments for line in segment.lines)
    figures = {
        "benchmark": "scriptdiff",
        "lines": LINES,
        "segments": SEGMENTS,
        "roles": len(CrewRole),
        "mean_chars_per_line": round(
            sum(len(line.text) for segment in old for line in segment.lines) / LINES, 1
        ),
        "line_statuses": dict(sorted(found.items())),
        "segment_statuses": dict(sorted(Counter(s.status for s in diff.segments).items())),
        "repeats": repeats,
        **percentiles_ms(samples),
    }
    figures["targets"] = {
        f"p95<{TARGET_MS}ms": figures["p95_ms"] < TARGET_MS,
        "statuses_as_edited": all(found[status] == count for status, count in expected.items()),
    }
    emit(figures)
    return figures


def _version(rng: random.Random) -> list[SegmentText]:
    roles = list(CrewRole)
    per_segment = [LINES // SEGMENTS + (i < LINES % SEGMENTS) for i in range(SEGMENTS)]
    segments, number = [], 0
    for index, count in enumerate(per_segment):
        lines = []
        for _ in range(count):
            lines.append(LineText(f"line-{number}", rng.choice(roles).value, _text(rng)))
            number += 1
        segments.append(SegmentText(f"segment-{index}", f"第{index + 1}段", tuple(lines)))
    return segments


def _text(rng: random.Random) -> str:
    text = ""
    while len(text) < 36:
        phrase = rng.choice(PHRASES).format(price=rng.choice(("9.9", "19.9", "59", "199", "1,299")))
        text += phrase + "，"
    return text[:-1] + "！"


def _edit(old: list[SegmentText], rng: random.Random) -> tuple[list[SegmentText], dict]:
    """The new version, and how many lines of each status the diff should find."""
    segments = [list(segment.lines) for segment in old]
    places = [(s, i) for s, lines in enumerate(segments) for i in range(len(lines))]
    chosen = rng.sample(places, EDITED + ROLE_CHANGES + MOVED + REMOVED)
    edited = chosen[:EDITED]
    role_changed = chosen[EDITED : EDITED + ROLE_CHANGES]
    moved = chosen[EDITED + ROLE_CHANGES : EDITED + ROLE_CHANGES + MOVED]
    removed = chosen[EDITED + ROLE_CHANGES + MOVED :]
    for n, (s, i) in enumerate(edited):
        line = segments[s][i]
        if n % 3 == 0:
            text = line.text.replace("五", "六", 1) if "五" in line.text else "嗯，" + line.text
        elif n % 3 == 1:
            text = line.text.replace("元", "块", 1) if "元" in line.text else line.text + "哦"
        else:
            text = line.text[:10] + "这个价格真的非常划算" + line.text[14:]
        segments[s][i] = replace(line, text=text)
    for s, i in role_changed:
        line = segments[s][i]
        segments[s][i] = replace(line, role=CrewRole.CS_AGENT if line.role == "host" else "host")
    taken = [segments[s][i] for s, i in moved]
    gone = {segments[s][i].key for s, i in removed + moved}
    segments = [[line for line in lines if line.key not in gone] for lines in segments]
    for n, line in enumerate(taken):
        segments[(int(line.key.split("-")[1]) + 7 * (n + 1)) % SEGMENTS].append(line)
    for n in range(ADDED):
        segments[rng.randrange(SEGMENTS)].insert(
            0, LineText(f"new-line-{n}", CrewRole.HOST.value, _text(rng))
        )
    new = [
        SegmentText(segment.key, segment.title, tuple(lines))
        for segment, lines in zip(old, segments, strict=True)
    ]
    new[0] = replace(new[0], title="开场福利")
    expected = {
        "changed": EDITED + ROLE_CHANGES,
        "moved": MOVED,
        "added": ADDED,
        "removed": REMOVED,
    }
    return new, expected
