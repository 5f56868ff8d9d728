"""Learning lines: when a line counts as known, and how long a segment takes to say.

A line is a spaced-repetition card (FSRS, the `fsrs` package). It counts as **mastered**
once the card has graduated to review with a stability of at least a day; lines with
verbatim spans (prices, gift counts, compliance wording) need three days, because those
words must come out exactly.
"""

import hashlib
from datetime import datetime, timedelta

from fsrs import Card, Rating, Scheduler, State

from rooms.models import CrewRole

MASTERED_STABILITY_DAYS = 1.0
VERBATIM_STABILITY_DAYS = 3.0
# Characters a minute a host speaks when selling: about four Chinese characters a second.
DEFAULT_CHARS_PER_MINUTE = 240
# How much of the cue line before one's own line the sheet shows.
CUE_TAIL_CHARS = 14
# Roles who memorise lines (the others follow cues).
SPEAKING_ROLES = (CrewRole.HOST, CrewRole.CO_HOST, CrewRole.ACTOR)

_scheduler = Scheduler(enable_fuzzing=False)


def new_card(now: datetime) -> Card:
    return Card(due=now)


def review(card_data: dict, rating: int, now: datetime) -> Card:
    card = Card.from_dict(card_data) if card_data else Card(due=now)
    reviewed, _log = _scheduler.review_card(card, Rating(rating), review_datetime=now)
    return reviewed


def is_mastered(card_data: dict, *, verbatim: bool) -> bool:
    if not card_data:
        return False
    card = Card.from_dict(card_data)
    needed = VERBATIM_STABILITY_DAYS if verbatim else MASTERED_STABILITY_DAYS
    return card.state == State.Review and (card.stability or 0) >= needed


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def speaking_time(text: str, chars_per_minute: int = DEFAULT_CHARS_PER_MINUTE) -> timedelta:
    spoken = len("".join(text.split()))
    return timedelta(minutes=spoken / chars_per_minute)


def hint(text: str, level: str) -> str:
    """What the practice card shows before the answer: all of it, the first characters of
    each phrase, or nothing."""
    if level == "full":
        return text
    if level == "first":
        shown, start = [], True
        for ch in text:
            if start and not ch.isspace():
                shown.append(ch)
                start = False
            elif ch in "，。！？；,.!?; ":
                shown.append(ch)
                start = True
            else:
                shown.append("＿" if not ch.isspace() else ch)
        return "".join(shown)
    return ""
