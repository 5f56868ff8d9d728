"""Every write in the support app."""

import copy
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import NamedTuple

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from rooms import eventlog, prepared
from rooms.eventlog import NewEvent
from rooms.models import (
    Channel,
    CrewAssignment,
    CrewRole,
    IngestEvent,
    Show,
    Stream,
    User,
)

from . import grouping, lock_objects, platforms, triage
from .events import comments_received, group_data, groups_changed, sla_flagged
from .models import (
    Agent,
    AgentStatus,
    CannedReply,
    Category,
    GroupStatus,
    OutboxStatus,
    Question,
    QuestionGroup,
    ReplyOutbox,
    SupportPolicy,
)
from .replies import MAX_REPLY_CHARS, REPLY_VARIABLES, reply_fill, reply_values, variables_unknown
from .selectors import (
    CLAIM_LEASE,
    PRIORITY_SQL,
    QUEUE_ORDER,
    askers_sql,
    groups_data,
    priority_params,
    queue_priority,
)

logger = logging.getLogger(__name__)


# === Intake: comments become questions, grouped with their duplicates (helper "intake") ===

DEFAULT_SLA = SupportPolicy._meta.get_field("sla").default
_GROUPS = QuestionGroup._meta.db_table


@dataclass(frozen=True)
class _Rules:
    """A channel's support policy as the intake reads it (defaults when it has none)."""

    sla: timedelta
    keywords: dict
    blocked_words: tuple[str, ...]
    muted_users: frozenset[str]
    vip_users: frozenset[str]

    @classmethod
    def for_channel(cls, channel_id: int) -> "_Rules":
        policy = SupportPolicy.objects.filter(channel_id=channel_id).first()
        if policy is None:
            return cls(DEFAULT_SLA, {}, (), frozenset(), frozenset())
        return cls(
            sla=policy.sla,
            keywords=policy.keywords if isinstance(policy.keywords, dict) else {},
            blocked_words=tuple(str(word) for word in policy.blocked_words or () if word),
            muted_users=frozenset(str(user) for user in policy.muted_users or ()),
            vip_users=frozenset(str(user) for user in policy.vip_users or ()),
        )


@dataclass(frozen=True)
class _Asked:
    """A comment judged to be a question, on its way into a group."""

    event: IngestEvent
    user_id: str
    user_name: str
    text: str
    triage: triage.Triage
    analysis: grouping.Analysis


def comments_ingest(*, stream: Stream, events: list[IngestEvent]) -> None:
    """Viewer comments from the platform: logged as they arrived for every screen, and the
    questions among them grouped into the stream's queue.

    Runs inside the ingest dispatch's transaction (a savepoint per stream), so a failure
    leaves both the log entries and the questions for the retry. Comments already made
    into questions (a dispatch retried after it committed) are skipped, so a platform
    event counts once however often it is delivered or dispatched.
    """
    comments_received(stream=stream, comments=events)
    rules = _Rules.for_channel(stream.channel_id)
    asked = _questions_among(stream, events, rules)
    if asked:
        _questions_group(stream, asked, rules)


def _questions_among(stream: Stream, events: list[IngestEvent], rules: _Rules) -> list[_Asked]:
    done = set(
        Question.objects.filter(ingest_event__in=[event.pk for event in events]).values_list(
            "ingest_event_id", flat=True
        )
    )
    lineup = tuple(
        triage.LineupEntry(link_number=link_number, sku=sku or "", name=name or "")
        for link_number, sku, name in stream.lineup.values_list("link_number", "sku", "name")
    )
    product_words = triage.product_words(lineup)
    asked = []
    for event in sorted(events, key=lambda row: (row.at, row.pk)):
        if event.pk in done:
            continue
        text = str(event.payload.get("text", "")).strip()
        user_id = str(event.payload.get("user_id", ""))
        if not text or triage.silenced(
            text, user_id, blocked_words=rules.blocked_words, muted_users=rules.muted_users
        ):
            continue
        judged = triage.classify(text, keywords_extra=rules.keywords, lineup=lineup)
        if not judged.is_question:
            continue
        asked.append(
            _Asked(
                event=event,
                user_id=user_id,
                user_name=str(event.payload.get("user_name", ""))[:200],
                text=text,
                triage=judged,
                analysis=grouping.analyse(text, product_words=product_words),
            )
        )
    return asked


def _questions_group(stream: Stream, asked: list[_Asked], rules: _Rules) -> None:
    """Fold the questions into the stream's open groups (or new ones), then publish one
    "grouped" event per group that was made or grew."""
    lock_objects.stream_intake(stream.pk)
    index = grouping.GroupIndex()
    index.add_many(_candidates(stream, sorted({question.triage.category for question in asked})))
    by_key: dict = {}
    for question in asked:
        key = index.find(
            question.analysis,
            category=question.triage.category,
            link_number=question.triage.link_number,
        )
        if key is None:
            key = ("new", question.event.pk)
            index.add(
                key,
                category=question.triage.category,
                link_number=question.triage.link_number,
                signature=question.analysis.signature,
            )
        by_key.setdefault(key, []).append(question)

    existing = [key for key in by_key if isinstance(key, int)]
    locked = {group.pk: group for group in lock_objects.groups_for_update(existing)}
    grown, fresh = [], []
    for key, questions in by_key.items():
        group = locked.get(key) if isinstance(key, int) else None
        # Answered, merged or dismissed between the read above and the lock: its new
        # askers start a group of their own rather than join a finished one.
        if group is not None and group.status == GroupStatus.OPEN and not group.merged_into_id:
            _group_grow(group, questions, rules)
            grown.append((group, questions))
        else:
            fresh.append((_group_new(stream, questions, rules), questions))
    _groups_grown_save([group for group, _questions in grown])
    QuestionGroup.objects.bulk_create([group for group, _questions in fresh])
    Question.objects.bulk_create(
        Question(
            stream=stream,
            group=group,
            ingest_event=question.event,
            user_id=question.user_id,
            user_name=question.user_name,
            text=question.text,
            asked_at=question.event.at,
        )
        for group, questions in grown + fresh
        for question in questions
    )
    # The groups as saved: the locked rows came with their holders, a new group has none.
    changed = sorted((group for group, _questions in grown + fresh), key=lambda group: group.pk)
    _publish("grouped", changed)


def _candidates(stream: Stream, categories: list[str]) -> list[tuple]:
    """(id, category, link number, signature) of the most recently asked open groups of each
    category, CANDIDATES_PER_CATEGORY each, in one index walk per category; categories in
    the order given, the most recent first within each (the order the index is filled in)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT recent.id, c.category, recent.link_number, recent.signature
            FROM unnest(%s::text[]) WITH ORDINALITY AS c(category, n)
            CROSS JOIN LATERAL (
                SELECT id, link_number, signature, last_asked_at FROM {_GROUPS}
                WHERE stream_id = %s AND category = c.category AND status = 'open'
                  AND merged_into_id IS NULL
                ORDER BY last_asked_at DESC, id DESC LIMIT %s
            ) AS recent
            ORDER BY c.n, recent.last_asked_at DESC, recent.id DESC
            """,
            [categories, stream.pk, grouping.CANDIDATES_PER_CATEGORY],
        )
        return cursor.fetchall()


def _groups_grown_save(groups: list[QuestionGroup]) -> None:
    """Write what `_group_grow` changed, for all the groups in one statement (they are
    locked: these values were computed from their current rows)."""
    if not groups:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_GROUPS} AS g
            SET count = u.count, first_asked_at = u.first_asked_at,
                last_asked_at = u.last_asked_at, deadline = u.deadline, vip = u.vip
            FROM unnest(%s::bigint[], %s::int[], %s::timestamptz[], %s::timestamptz[],
                        %s::timestamptz[], %s::bool[])
                AS u(id, count, first_asked_at, last_asked_at, deadline, vip)
            WHERE g.id = u.id
            """,
            [
                [group.pk for group in groups],
                [group.count for group in groups],
                [group.first_asked_at for group in groups],
                [group.last_asked_at for group in groups],
                [group.deadline for group in groups],
                [group.vip for group in groups],
            ],
        )


def _group_new(stream: Stream, questions: list[_Asked], rules: _Rules) -> QuestionGroup:
    first = questions[0]
    asked_at = [question.event.at for question in questions]
    return QuestionGroup(
        stream=stream,
        category=first.triage.category,
        language=first.triage.language,
        link_number=first.triage.link_number,
        signature=first.analysis.signature,
        text=first.text,
        count=len(questions),
        vip=any(question.user_id in rules.vip_users for question in questions),
        first_asked_at=min(asked_at),
        last_asked_at=max(asked_at),
        deadline=min(asked_at) + rules.sla,
    )


def _group_grow(group: QuestionGroup, questions: list[_Asked], rules: _Rules) -> None:
    """More askers: the deadline stays the earliest open question's (a question that the
    platform dates earlier than the group's first brings it forward)."""
    asked_at = [question.event.at for question in questions]
    group.count += len(questions)
    group.first_asked_at = min(group.first_asked_at, *asked_at)
    group.last_asked_at = max(group.last_asked_at, *asked_at)
    group.deadline = min(group.deadline, min(asked_at) + rules.sla)
    group.vip = group.vip or any(question.user_id in rules.vip_users for question in questions)
    # No new version: the version guards an agent's reply against the group changing hands
    # or being answered, and a reply already reaches everyone who asked by the time it is
    # sent. Bumping it for every new asker would refuse replies to exactly the hot groups.


def _holding_refusal(group: QuestionGroup, actor: User, now: datetime) -> str | None:
    """Why an agent may not reshape a group (split, merge it away), or None if they may.

    Only open groups change shape, and not one another agent is answering: the askers it
    would lose are the ones their reply is about to reach.
    """
    if group.status != GroupStatus.OPEN or group.merged_into_id:
        return _refusal(group, actor, now=now)
    if (
        group.claimed_by_id
        and group.claimed_by_id != actor.pk
        and group.claim_expires_at is not None
        and group.claim_expires_at >= now
    ):
        return _refusal(group, actor, now=now)
    return None


def group_merge(
    *,
    actor: User,
    groups: Sequence[QuestionGroup],
    into: QuestionGroup,
    now: datetime | None = None,
) -> QuestionGroup:
    """Fold groups an agent sees as one question into `into`: their askers join it, and
    they are closed as merged ("merged" event each, with `into`; "grouped" for the target).

    The target keeps its text, category and claim; its deadline becomes the earliest of
    them all, so merging never buys time.
    """
    _allowed(actor, "support.work_queue", into.stream)
    now = now or timezone.now()
    absorbed_ids = sorted({group.pk for group in groups} - {into.pk})
    if not absorbed_ids:
        raise ValidationError(_("Choose at least one other group to merge."), code="invalid")
    with transaction.atomic():
        locked = {
            group.pk: group for group in lock_objects.groups_for_update([into.pk, *absorbed_ids])
        }
        if len(locked) != len(absorbed_ids) + 1:
            raise ValidationError(_("A group to merge no longer exists."), code="invalid")
        target = locked[into.pk]
        absorbed = [locked[pk] for pk in absorbed_ids]
        if any(group.stream_id != target.stream_id for group in absorbed):
            raise ValidationError(
                _("Only groups of the same stream can be merged."), code="invalid"
            )
        if target.status not in (GroupStatus.OPEN, GroupStatus.ESCALATED) or target.merged_into_id:
            target = QuestionGroup.objects.select_related("claimed_by", "answered_by").get(
                pk=target.pk
            )
            raise GroupConflict(_refusal(target, actor, now=now), current=_data(target))
        for group in absorbed:
            if _holding_refusal(group, actor, now):
                current = QuestionGroup.objects.select_related("claimed_by", "answered_by").get(
                    pk=group.pk
                )
                raise GroupConflict(_holding_refusal(current, actor, now), current=_data(current))
        Question.objects.filter(group_id__in=absorbed_ids).update(group=target)
        everyone = [target, *absorbed]
        target.count = sum(group.count for group in everyone)
        target.first_asked_at = min(group.first_asked_at for group in everyone)
        target.last_asked_at = max(group.last_asked_at for group in everyone)
        target.deadline = min(group.deadline for group in everyone)
        target.vip = any(group.vip for group in everyone)
        target.warned = any(group.warned for group in everyone)
        target.breached = any(group.breached for group in everyone)
        target.version += 1
        for group in absorbed:
            group.status = GroupStatus.DISMISSED
            group.merged_into = target
            group.claimed_by = None
            group.claim_expires_at = None
            group.version += 1
        QuestionGroup.objects.bulk_update(
            everyone,
            [
                "count", "first_asked_at", "last_asked_at", "deadline", "vip", "warned",
                "breached", "version", "status", "merged_into", "claimed_by", "claim_expires_at",
            ],
        )  # fmt: skip
        with eventlog.deferred():
            groups_changed(
                stream_id=target.stream_id,
                op="merged",
                groups=[{**data, "into": target.pk} for data in groups_data(_groups(absorbed_ids))],
            )
            merged = _groups([target.pk])
            _publish("grouped", merged)
    return merged[0]


def group_split(
    *,
    actor: User,
    group: QuestionGroup,
    question_ids: Sequence[int],
    now: datetime | None = None,
) -> QuestionGroup:
    """Move some of a group's questions into a group of their own (grouping folded two
    questions into one): "split" for both, the new one's data with `from`. Returns the
    new group.

    Each side's text, first and last asked time, deadline and VIP mark follow from the
    questions it now holds; the new group keeps the category and product of the old.
    """
    _allowed(actor, "support.work_queue", group.stream)
    now = now or timezone.now()
    wanted = set(question_ids)
    if not wanted:
        raise ValidationError(_("Choose the questions to split off."), code="invalid")
    with transaction.atomic():
        locked = lock_objects.groups_for_update([group.pk])
        if not locked:
            raise ValidationError(_("This group no longer exists."), code="invalid")
        original = locked[0]
        if _holding_refusal(original, actor, now):
            current = QuestionGroup.objects.select_related("claimed_by", "answered_by").get(
                pk=original.pk
            )
            raise GroupConflict(_holding_refusal(current, actor, now), current=_data(current))
        questions = list(Question.objects.filter(group=original).order_by("asked_at", "pk"))
        moving = [question for question in questions if question.pk in wanted]
        staying = [question for question in questions if question.pk not in wanted]
        if len(moving) != len(wanted):
            raise ValidationError(
                _("Some of these questions are not in this group."), code="invalid"
            )
        if not staying:
            raise ValidationError(_("Leave at least one question in the group."), code="invalid")
        rules = _Rules.for_channel(original.stream.channel_id)
        first = moving[0]
        split_off = QuestionGroup(
            stream_id=original.stream_id,
            category=original.category,
            language=triage.detect_language(first.text),
            link_number=original.link_number,
            signature=grouping.analyse(first.text).signature,
            text=first.text,
            version=1,
        )
        _group_recount(split_off, moving, rules, now=now)
        split_off.save()
        Question.objects.filter(pk__in=[question.pk for question in moving]).update(group=split_off)
        if questions[0] in moving:
            original.text = staying[0].text
            original.language = triage.detect_language(staying[0].text)
            original.signature = grouping.analyse(staying[0].text).signature
        _group_recount(original, staying, rules, now=now)
        original.version += 1
        original.save()
        with eventlog.deferred():
            _publish("split", _groups([original.pk]))
            groups_changed(
                stream_id=original.stream_id,
                op="split",
                groups=[
                    {**data, "from": original.pk} for data in groups_data(_groups([split_off.pk]))
                ],
            )
    return split_off


def _group_recount(
    group: QuestionGroup, questions: list[Question], rules: _Rules, *, now: datetime
) -> None:
    """A group's figures from the questions it holds (oldest first)."""
    group.count = len(questions)
    group.first_asked_at = questions[0].asked_at
    group.last_asked_at = max(question.asked_at for question in questions)
    deadline = group.first_asked_at + rules.sla
    if deadline != group.deadline:
        # The sweep flags the new deadline afresh: a warning is not owed twice, nor kept
        # for a deadline that moved out.
        group.deadline = deadline
        group.breached = deadline <= now
        group.warned = group.breached
    group.vip = any(question.user_id in rules.vip_users for question in questions)


# === Work on the queue: claims, replies, escalation, SLA, agents (helper "work") ==========


def _allowed(actor: User | None, perm: str, obj: object = None) -> None:
    """Check the acting person's permission; `None` is the system itself (sweeps, tasks)."""
    if actor is not None and not actor.has_perm(perm, obj):
        raise PermissionDenied(_("You don't have permission to do this."))


class GroupConflict(ValidationError):
    """Someone else changed the group first (claimed, answered, released or escalated it).

    Carries the group as it now stands, so the agent's screen shows that instead of acting
    on its stale copy: an answer never lands on a group its agent has not seen as it is.
    """

    def __init__(self, message: str, *, current: dict):
        self.current = current
        super().__init__(message, code="conflict")


def _groups(ids: Sequence[int]) -> list[QuestionGroup]:
    return list(
        QuestionGroup.objects.filter(pk__in=ids)
        .select_related("claimed_by", "answered_by")
        .order_by("stream_id", "pk")
    )


def _data(group: QuestionGroup) -> dict:
    return groups_data([group])[0]


def _publish(op: str, groups: Sequence[QuestionGroup]) -> None:
    """One "question" event per group, each in its own stream's log, streams in id order."""
    ordered = sorted(groups, key=lambda group: (group.stream_id, group.pk))
    with eventlog.deferred():
        for stream_id, in_stream in groupby(ordered, key=lambda group: group.stream_id):
            groups_changed(stream_id=stream_id, op=op, groups=groups_data(list(in_stream)))


def _update_returning(sql: str, params: Sequence) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _refusal(group: QuestionGroup, actor: User, *, now: datetime) -> str:
    """Why an agent cannot act on the group as they saw it, in words for their screen."""
    if group.status == GroupStatus.ANSWERED:
        return _("%(name)s answered this question meanwhile.") % {
            "name": group.answered_by or _("Someone")
        }
    if group.status == GroupStatus.ESCALATED:
        return _("This question was handed to the host meanwhile.")
    if group.status != GroupStatus.OPEN or group.merged_into_id:
        return _("This question was merged or dismissed meanwhile.")
    if group.claimed_by_id and group.claimed_by_id != actor.pk and group.claim_expires_at >= now:
        return _("%(name)s is answering this question.") % {"name": group.claimed_by}
    if group.claimed_by_id != actor.pk or group.claim_expires_at < now:
        return _("Your claim on this question lapsed; claim it again.")
    return _("This question changed since you saw it.")


def _holds(group: QuestionGroup, actor: User, now: datetime) -> bool:
    return (
        group.status == GroupStatus.OPEN
        and group.claimed_by_id == actor.pk
        and group.claim_expires_at is not None
        and group.claim_expires_at >= now
    )


# --- Claims --------------------------------------------------------------------------------

# A claim is a lease (CLAIM_LEASE, in selectors beside AGENT_HEARTBEAT). The agent's screen
# renews it with every heartbeat (`agent_heartbeat`); when it lapses the lease sweep hands
# the group back to the queue.


def _claiming_agent(actor: User, *, now: datetime) -> Agent:
    """The actor's agent row, locked, which orders one agent's own claims: their capacity is
    counted and used inside one lock, while other agents' claims never wait on it."""
    agent = Agent.objects.select_for_update().filter(user=actor).first()
    if agent is None or agent.status != AgentStatus.ONLINE:
        raise ValidationError(_("Go online to take questions."), code="not_online")
    held = QuestionGroup.objects.filter(
        claimed_by=actor, status=GroupStatus.OPEN, claim_expires_at__gte=now
    ).count()
    if held >= agent.capacity:
        raise _capacity_refusal(held)
    return agent


def _capacity_refusal(held: int) -> ValidationError:
    return ValidationError(
        ngettext(
            "You hold %(n)d question, your limit: answer or release it first.",
            "You hold %(n)d questions, your limit: answer or release one first.",
            held,
        )
        % {"n": held},
        code="capacity",
    )


def _claimable(group: QuestionGroup, now: datetime, seen_version: int | None) -> bool:
    """What `_take`'s UPDATE requires, judged on a copy read earlier in the transaction."""
    return (
        group.status == GroupStatus.OPEN
        and not group.merged_into_id
        and (group.claimed_by_id is None or group.claim_expires_at < now)
        and (seen_version is None or group.version == seen_version)
    )


def _free_sql(now: str, alias: str = "") -> str:
    """SQL: the group (columns prefixed with `alias`) is free to claim at `now`, a
    placeholder: open, not merged, no lease running. `_claimable` judges the same in Python."""
    return (
        f"{alias}status = 'open' AND {alias}merged_into_id IS NULL"
        f" AND ({alias}claimed_by_id IS NULL OR {alias}claim_expires_at < {now})"
    )


def _held_sql(actor: str, now: str) -> str:
    """SQL: the group is held by the agent `actor` at `now` (placeholders): a lease running.
    `_claiming_agent` counts the same through the ORM."""
    return f"claimed_by_id = {actor} AND status = 'open' AND claim_expires_at >= {now}"


def _take(group_id: int, actor: User, *, now: datetime, seen_version: int | None) -> list[int]:
    """The claim itself: one conditional UPDATE, so of any number of agents racing for a
    group exactly one finds it free; the others' UPDATE matches no row."""
    version_check = "AND version = %s" if seen_version is not None else ""
    params: list = [actor.pk, now + CLAIM_LEASE, group_id, now]
    if seen_version is not None:
        params.append(seen_version)
    return _update_returning(
        f"""
        UPDATE {_GROUPS}
        SET claimed_by_id = %s, claim_expires_at = %s, version = version + 1
        WHERE id = %s AND {_free_sql("%s")} {version_check}
        RETURNING id
        """,
        params,
    )


# The fast path. Under contention most claims are refused, and an agent who lost a race
# clicks the next group at once, so a claim is kept to two statements with nothing
# composed in Python: one reads the group, the agent's capacity (locking the agent's row)
# and whether they are crewed as the stream's CS agent; one takes the group. It serves
# the common case, a CS agent crewed on the stream (whom support/rules.py lets work the
# queue), and hands anything else to the full path, in the same transaction, which
# checks everything again and says what is wrong.

_USERS = User._meta.db_table
_GROUP_FIELDS = [field.attname for field in QuestionGroup._meta.concrete_fields]
_GROUP_COLUMNS = ", ".join(f"g.{field.column}" for field in QuestionGroup._meta.concrete_fields)


def _group_seen_sql(*, also: str = "") -> str:
    """SQL reading a group as a claim judges it: its columns, its holder's and answerer's
    names, its askers, whether the actor is crewed as the stream's CS agent, the row's
    version (`xmin`, for `support_claim_take` and `support_answer_write`), then `also`."""
    return f"""
    SELECT {_GROUP_COLUMNS},
           holder.username, holder.display_name, answerer.username, answerer.display_name,
           {askers_sql("g.id")},
           EXISTS (
               SELECT 1 FROM {CrewAssignment._meta.db_table}
               WHERE stream_id = g.stream_id AND person_id = %(actor)s AND role = %(cs_agent)s
           ),
           g.xmin::text::bigint
           {also}
    FROM {_GROUPS} AS g
    LEFT JOIN {_USERS} AS holder ON holder.id = g.claimed_by_id
    LEFT JOIN {_USERS} AS answerer ON answerer.id = g.answered_by_id
    WHERE g.id = %(group)s
    """


# Under contention most claims are of groups already taken, which the agent's screen had
# not yet heard of: one statement outside any transaction sees that and refuses, with no
# lock taken and nothing for the database to commit. A group it sees free is taken by one
# more message (`_claim_on_sight`). Answering reads the group the same way first.
_GROUP_SEEN = _group_seen_sql()

_CLAIM_LOOK = f"""
    WITH me AS (
        SELECT capacity FROM {Agent._meta.db_table}
        WHERE user_id = %(actor)s AND status = %(online)s
        FOR UPDATE
    )
    {_group_seen_sql(also=", (SELECT capacity FROM me)")}
"""

# `_take`, counting the agent's claims as `_claiming_agent` does. The agent's row was
# locked by the statement before, so this one's snapshot holds all their other claims.
_CLAIM_TAKE = f"""
    UPDATE {_GROUPS} AS g
    SET claimed_by_id = %(actor)s, claim_expires_at = %(until)s, version = g.version + 1
    WHERE g.id = %(group)s AND {_free_sql("%(now)s", alias="g.")}
      AND (%(seen)s::integer IS NULL OR g.version = %(seen)s::integer)
      AND (SELECT count(*) FROM {_GROUPS} WHERE {_held_sql("%(actor)s", "%(now)s")})
          < %(capacity)s
    RETURNING {_GROUP_COLUMNS}, {askers_sql("g.id")}
"""


def _user_named(user_id: int | None, username: str, display_name: str) -> User | None:
    """A user loaded with only what their name needs (`str(user)`)."""
    if user_id is None:
        return None
    return User.from_db(
        DEFAULT_DB_ALIAS, ["id", "username", "display_name"], [user_id, username, display_name]
    )


def _group_from_row(row: Sequence) -> QuestionGroup:
    return QuestionGroup.from_db(DEFAULT_DB_ALIAS, _GROUP_FIELDS, row[: len(_GROUP_FIELDS)])


def _publish_row(op: str, group: QuestionGroup, row: Sequence) -> None:
    """`_publish` for a group read by one of these statements, its askers after its columns."""
    groups_changed(
        stream_id=group.stream_id, op=op, groups=[group_data(group, askers=row[len(_GROUP_FIELDS)])]
    )


class _Seen(NamedTuple):
    """A group as read outside any transaction by `_GROUP_SEEN`."""

    group: QuestionGroup  # with its holder and answerer named
    askers: list[str]
    crewed: bool  # the actor is crewed as the stream's CS agent
    xmin: int  # the row's version, which any change to the row changes


def _group_seen(row: Sequence) -> _Seen:
    """A row of `_group_seen_sql`."""
    n = len(_GROUP_FIELDS)
    group = _group_from_row(row)
    group.claimed_by = _user_named(group.claimed_by_id, *row[n : n + 2])
    group.answered_by = _user_named(group.answered_by_id, *row[n + 2 : n + 4])
    return _Seen(group, row[n + 4], row[n + 5], row[n + 6])


def _read_on_sight(actor: User, group_id: int) -> _Seen | None:
    """`_GROUP_SEEN` for an active actor outside any transaction (where what it saw can be
    acted on by one message); None otherwise, or when there is no such group."""
    if not actor.is_active or connection.in_atomic_block:
        return None
    rows = prepared.execute(
        _GROUP_SEEN, {"actor": actor.pk, "group": group_id, "cs_agent": CrewRole.CS_AGENT}
    )
    return _group_seen(rows[0]) if rows else None


def _changed(seen: _Seen, op: str, **changes) -> tuple[QuestionGroup, NewEvent]:
    """The group as the change will leave it, if its row is still the one seen, and the
    event that says so."""
    group = copy.copy(seen.group)
    for name, value in changes.items():
        setattr(group, name, value)
    group.version += 1
    return group, NewEvent(type="question", op=op, data=group_data(group, askers=seen.askers))


def _claim_look(
    actor: User, group_id: int
) -> tuple[QuestionGroup | None, list[str], bool, int | None]:
    """`_CLAIM_LOOK`: the group as `_group_seen` reads it, and the actor's capacity if
    they are online."""
    rows = prepared.execute(
        _CLAIM_LOOK,
        {
            "actor": actor.pk,
            "group": group_id,
            "online": AgentStatus.ONLINE,
            "cs_agent": CrewRole.CS_AGENT,
        },
    )
    if not rows:
        return None, [], False, None
    [row] = rows
    current, askers, crewed, _xmin = _group_seen(row)
    return current, askers, crewed, row[-1]


def _claim_on_sight(
    actor: User, group_id: int, *, now: datetime, seen_version: int | None
) -> QuestionGroup | None:
    """The claim of a crewed CS agent outside any transaction, decided by what one read
    sees: refused (`GroupConflict`) if the group is plainly not free for them, or taken by
    `support_claim_take` if it is and its row has not changed since. None when the claim
    must be decided from the start in a transaction."""
    seen = _read_on_sight(actor, group_id)
    if seen is None or not seen.crewed or _holds(seen.group, actor, now):
        return None
    if not _claimable(seen.group, now, seen_version):
        raise GroupConflict(
            _refusal(seen.group, actor, now=now),
            current=group_data(seen.group, askers=seen.askers),
        )
    until = now + CLAIM_LEASE
    claimed, event = _changed(seen, "claimed", claimed_by=actor, claim_expires_at=until)
    written = eventlog.commit_alone(
        _CLAIM_ALONE,
        {
            "group": group_id,
            "xmin": seen.xmin,
            "actor": actor.pk,
            "now": now,
            "until": until,
            "online": AgentStatus.ONLINE,
            "cs_agent": CrewRole.CS_AGENT,
        },
        claimed.stream_id,
        [event],
    )
    return claimed if written is not None else None


_CLAIM_ALONE = """
    SELECT seq, at FROM support_claim_take(
        %(group)s, %(xmin)s, %(actor)s, %(now)s, %(until)s, %(online)s, %(cs_agent)s,
        %(stream)s, %(types)s::text[], %(ops)s::text[], %(datas)s::text[]
    )
"""


def _claim_fast(
    actor: User, group_id: int, *, now: datetime, seen_version: int | None
) -> QuestionGroup | None:
    """The claim as a crewed CS agent makes it in a transaction: the group claimed, or
    `GroupConflict`, or None when the full path must decide (someone else, not online, at
    capacity)."""
    if not actor.is_active:
        return None
    current, askers, crewed, capacity = _claim_look(actor, group_id)
    if current is None or not crewed:
        return None
    if _holds(current, actor, now):
        return current
    if _claimable(current, now, seen_version) and capacity is not None:
        rows = prepared.execute(
            _CLAIM_TAKE,
            {
                "actor": actor.pk,
                "group": group_id,
                "now": now,
                "until": now + CLAIM_LEASE,
                "seen": seen_version,
                "capacity": capacity,
            },
        )
        if rows:
            [row] = rows
            claimed = _group_from_row(row)
            claimed.claimed_by = actor
            claimed.answered_by = current.answered_by
            _publish_row("claimed", claimed, row)
            return claimed
        # Another agent took it between the two statements (the UPDATE waited for their
        # commit), or this agent is at capacity: read it again to tell which.
        current, askers, _, _ = _claim_look(actor, group_id)
        if current is not None and _holds(current, actor, now):
            return current  # their own other click took it first
    if current is not None and not _claimable(current, now, seen_version):
        raise GroupConflict(
            _refusal(current, actor, now=now), current=group_data(current, askers=askers)
        )
    return None


def group_claim(
    *,
    actor: User,
    group: QuestionGroup,
    seen_version: int | None = None,
    now: datetime | None = None,
) -> QuestionGroup:
    """Claim a group to answer it. Claiming one's own group again changes nothing.

    Refused with `GroupConflict` (carrying the group as it is) when another agent holds it,
    it was answered, escalated or merged, or — with `seen_version` — it changed since the
    agent's screen showed it.
    """
    now = now or timezone.now()
    claimed = _claim_on_sight(actor, group.pk, now=now, seen_version=seen_version)
    if claimed is not None:
        return claimed
    # Every refusal comes before the claim writes anything.
    with prepared.atomic_refusing():
        claimed = _claim_fast(actor, group.pk, now=now, seen_version=seen_version)
        if claimed is None:
            claimed = _claim_full(actor, group, now=now, seen_version=seen_version)
    return claimed


def _claim_full(
    actor: User, group: QuestionGroup, *, now: datetime, seen_version: int | None
) -> QuestionGroup:
    _allowed(actor, "support.work_queue", group.stream)
    current = QuestionGroup.objects.select_related("claimed_by", "answered_by").get(pk=group.pk)
    if _holds(current, actor, now):
        return current
    if not _claimable(current, now, seen_version):
        # Already taken, answered or changed when read: refused without locking or
        # counting anything. A group that looks free is decided by the conditional UPDATE.
        raise GroupConflict(_refusal(current, actor, now=now), current=_data(current))
    _claiming_agent(actor, now=now)
    taken = _take(group.pk, actor, now=now, seen_version=seen_version)
    if not taken:
        current = QuestionGroup.objects.select_related("claimed_by", "answered_by").get(pk=group.pk)
        raise GroupConflict(_refusal(current, actor, now=now), current=_data(current))
    claimed = _groups(taken)
    _publish("claimed", claimed)
    return claimed[0]


# Claiming the next group takes the same two-statement path for a crewed CS agent: one locks
# the agent's row and reads their capacity and skills, whether they are crewed as the
# stream's CS agent, the pinned products and the reply window; the other ranks the free
# groups they may answer by `selectors.PRIORITY_SQL`, takes the first it can lock, and
# counts what they hold (the count decides, under the lock taken by the statement before).
#
# The ranking keeps only the first NEXT_RANKED groups (a bounded sort: a sort of every free
# group, which locking the result would otherwise need, cost a queue of 10,000 half its
# time) and locks the first of those still free. Only when all of them were taken or locked
# by other agents meanwhile does a second statement rank every free group.
NEXT_RANKED = 64

_NEXT_AGENT = f"""
    SELECT a.capacity, a.languages, a.categories,
           EXISTS (
               SELECT 1 FROM {CrewAssignment._meta.db_table}
               WHERE stream_id = %(stream)s AND person_id = %(actor)s AND role = %(cs_agent)s
           ),
           (SELECT pinned FROM {Show._meta.db_table} WHERE stream_id = %(stream)s),
           (SELECT sla FROM {SupportPolicy._meta.db_table} WHERE channel_id = %(channel)s)
    FROM {Agent._meta.db_table} AS a
    WHERE a.user_id = %(actor)s AND a.status = %(online)s
    FOR UPDATE OF a
"""


def _next_wanted_sql(alias: str = "") -> str:
    """SQL: the group (columns prefixed with `alias`) is of the stream (first placeholder),
    free at the time (second), and matches the agent's languages and categories and the
    screen's filters (the ten after)."""
    return f"""{alias}stream_id = %s AND {_free_sql("%s", alias=alias)}
          AND (cardinality(%s::text[]) = 0 OR {alias}language = ANY(%s::text[]))
          AND (cardinality(%s::text[]) = 0 OR {alias}category = ANY(%s::text[]))
          AND (%s::text = '' OR {alias}category = %s::text)
          AND (%s::text = '' OR {alias}language = %s::text)
          AND (%s::integer IS NULL OR {alias}link_number = %s::integer)"""


_NEXT_HELD_AND_TAKEN = f"""
    held AS (
        SELECT count(*) AS n FROM {_GROUPS} WHERE {_held_sql("%s", "%s")}
    ),
    taken AS (
        UPDATE {_GROUPS} AS g
        SET claimed_by_id = %s, claim_expires_at = %s, version = g.version + 1
        FROM candidate, held
        WHERE g.id = candidate.id AND held.n < %s
        RETURNING {_GROUP_COLUMNS}, {askers_sql("g.id")} AS askers
    )
"""


@functools.cache
def _next_take_ranked(ranked: int) -> str:
    """The first `ranked` groups by priority, without locks; then the first of them still
    free (the lock re-reads a row another agent changed meanwhile, and the conditions are
    checked again on it). The second column says how many were ranked: all of them and
    none taken means the rest must be ranked too. The number is written into the statement,
    not passed, so the prepared statement's plan is made for it."""
    return f"""
    WITH ranked AS MATERIALIZED (
        SELECT id, {PRIORITY_SQL} AS priority, deadline FROM {_GROUPS}
        WHERE {_next_wanted_sql()}
        ORDER BY priority DESC, deadline, id
        LIMIT {int(ranked)}
    ),
    candidate AS (
        SELECT g.id FROM ranked JOIN {_GROUPS} AS g ON g.id = ranked.id
        WHERE {_next_wanted_sql(alias="g.")}
        ORDER BY ranked.priority DESC, ranked.deadline, ranked.id
        LIMIT 1
        FOR NO KEY UPDATE OF g SKIP LOCKED
    ),
    {_NEXT_HELD_AND_TAKEN}
    SELECT held.n, (SELECT count(*) FROM ranked), taken.* FROM held LEFT JOIN taken ON true
"""


_NEXT_TAKE = f"""
    WITH candidate AS (
        SELECT id FROM {_GROUPS}
        WHERE {_next_wanted_sql()}
        ORDER BY {PRIORITY_SQL} DESC, deadline, id
        LIMIT 1
        FOR NO KEY UPDATE SKIP LOCKED
    ),
    {_NEXT_HELD_AND_TAKEN}
    SELECT held.n, 0, taken.* FROM held LEFT JOIN taken ON true
"""


def _claim_next_fast(
    actor: User,
    stream: Stream,
    *,
    category: str,
    language: str,
    link_number: int | None,
    now: datetime,
) -> tuple[bool, QuestionGroup | None]:
    """Claim the next group as a crewed CS agent: (True, the group or None when nothing is
    free for them), or (False, None) when the full path must decide."""
    if not actor.is_active:
        return False, None
    agents = prepared.execute(
        _NEXT_AGENT,
        {
            "actor": actor.pk,
            "stream": stream.pk,
            "channel": stream.channel_id,
            "online": AgentStatus.ONLINE,
            "cs_agent": CrewRole.CS_AGENT,
        },
    )
    if not agents or not agents[0][3]:
        return False, None
    capacity, languages, categories, _crewed, pinned, policy_sla = agents[0]
    wanted = [
        stream.pk,
        now,
        list(languages),
        list(languages),
        list(categories),
        list(categories),
        category,
        category,
        language,
        language,
        link_number,
        link_number,
    ]
    priority = priority_params(pinned=pinned, policy_sla=policy_sla, now=now)
    held_and_taken = [actor.pk, now, actor.pk, now + CLAIM_LEASE, capacity]
    [row] = prepared.execute(
        _next_take_ranked(NEXT_RANKED), [*priority, *wanted, *wanted, *held_and_taken]
    )
    if row[2] is None and row[0] < capacity and row[1] == NEXT_RANKED:
        [row] = prepared.execute(_NEXT_TAKE, [*wanted, *priority, *held_and_taken])
    held, taken = row[0], row[2:]
    if taken[0] is None:
        if held >= capacity:
            raise _capacity_refusal(held)
        return True, None
    claimed = _group_from_row(taken)
    claimed.claimed_by = actor
    _publish_row("claimed", claimed, taken)
    return True, claimed


def group_claim_next(
    *,
    actor: User,
    stream: Stream,
    category: str = "",
    language: str = "",
    link_number: int | None = None,
    now: datetime | None = None,
) -> QuestionGroup | None:
    """Hand the agent the free group they can answer that is first in the queue's priority
    (`selectors.queue_priority`), or None.

    Within their capacity (groups they hold) and skills (their languages and categories;
    none listed means any), narrowed by the screen's filters. Candidates are read with
    SKIP LOCKED: agents asking at the same moment each take a different group instead of
    queueing behind one row, and nobody waits on anybody (no deadlock).
    """
    now = now or timezone.now()
    filters = {"category": category, "language": language, "link_number": link_number}
    # Every refusal (permission, offline, capacity) comes before anything is written.
    with prepared.atomic_refusing():
        decided, claimed = _claim_next_fast(actor, stream, now=now, **filters)
        if not decided:
            claimed = _claim_next_full(actor, stream, now=now, **filters)
    return claimed


def _claim_next_full(
    actor: User,
    stream: Stream,
    *,
    category: str,
    language: str,
    link_number: int | None,
    now: datetime,
) -> QuestionGroup | None:
    _allowed(actor, "support.work_queue", stream)
    agent = _claiming_agent(actor, now=now)
    free = QuestionGroup.objects.filter(
        Q(claimed_by__isnull=True) | Q(claim_expires_at__lt=now),
        stream=stream,
        status=GroupStatus.OPEN,
        merged_into__isnull=True,
    )
    if agent.languages:
        free = free.filter(language__in=agent.languages)
    if agent.categories:
        free = free.filter(category__in=agent.categories)
    if category:
        free = free.filter(category=category)
    if language:
        free = free.filter(language=language)
    if link_number is not None:
        free = free.filter(link_number=link_number)
    candidate = (
        free.annotate(priority=queue_priority(stream, now=now))
        .select_for_update(skip_locked=True, no_key=True)
        .order_by(*QUEUE_ORDER)
        .values_list("pk", flat=True)
        .first()
    )
    if candidate is None:
        return None
    taken = _take(candidate, actor, now=now, seen_version=None)
    claimed = _groups(taken)
    _publish("claimed", claimed)
    return claimed[0] if claimed else None


def _release(
    where: str, params: Sequence, *, skip_locked: bool = False, limit: int | None = None
) -> list[QuestionGroup]:
    """Hand claimed groups back to the queue, locking them in id order, with a "released"
    event each. With `skip_locked`, groups someone is working on right now are left for
    the next sweep rather than waited for."""
    skip = "SKIP LOCKED" if skip_locked else ""
    bound = f"LIMIT {int(limit)}" if limit is not None else ""
    released = _update_returning(
        f"""
        WITH chosen AS (
            SELECT id FROM {_GROUPS}
            WHERE claimed_by_id IS NOT NULL AND status = 'open' AND ({where})
            ORDER BY id {bound} FOR NO KEY UPDATE {skip}
        )
        UPDATE {_GROUPS} AS g
        SET claimed_by_id = NULL, claim_expires_at = NULL, version = g.version + 1
        FROM chosen WHERE g.id = chosen.id
        RETURNING g.id
        """,
        params,
    )
    groups = _groups(released)
    _publish("released", groups)
    return groups


def group_release(
    *, actor: User, group: QuestionGroup, now: datetime | None = None
) -> QuestionGroup:
    """Put a group one holds back in the queue (the agent's "skip")."""
    _allowed(actor, "support.work_queue", group.stream)
    now = now or timezone.now()
    with transaction.atomic():
        released = _release("id = %s AND claimed_by_id = %s", [group.pk, actor.pk])
        if not released:
            current = QuestionGroup.objects.select_related("claimed_by", "answered_by").get(
                pk=group.pk
            )
            raise GroupConflict(_refusal(current, actor, now=now), current=_data(current))
    return released[0]


def claims_sweep(*, now: datetime | None = None, batch: int = 5000) -> int:
    """Return groups whose lease ran out (the agent went silent) to the queue."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            released = _release("claim_expires_at < %s", [now], skip_locked=True, limit=batch)
        total += len(released)
        if len(released) < batch:
            return total


# --- Answers -------------------------------------------------------------------------------


def reply_compose(
    *, group: QuestionGroup, text: str = "", canned_reply_ids: Sequence[int] = ()
) -> str:
    """The reply an agent sends: the canned replies they stacked, in the order they chose
    them, filled from live data, then their own words."""
    canned = (
        {
            reply.pk: reply
            for reply in CannedReply.objects.filter(
                channel_id=group.stream.channel_id, pk__in=canned_reply_ids
            )
        }
        if canned_reply_ids
        else {}
    )
    if len(canned) != len(set(canned_reply_ids)):
        raise ValidationError({"canned_replies": _("A canned reply is not one of this channel's.")})
    values = reply_values(group) if canned else {}
    parts = [reply_fill(canned[pk].text, values) for pk in canned_reply_ids]
    if text.strip():
        parts.append(text.strip())
    reply = " ".join(parts)
    if not reply:
        raise ValidationError(_("Write a reply or choose a canned one."), code="invalid")
    if len(reply) > MAX_REPLY_CHARS:
        raise ValidationError(
            _("The reply is %(n)d characters long; platforms take %(max)d.")
            % {"n": len(reply), "max": MAX_REPLY_CHARS},
            code="invalid",
        )
    return reply


def reply_idempotency_key(group: QuestionGroup) -> str:
    """The same answer to the same state of a group always has the same key."""
    return f"reply-{group.pk}-v{group.version}"


def _locked_group(group: QuestionGroup) -> QuestionGroup:
    # NO KEY UPDATE: intake keeps adding questions to the group (their foreign key takes a
    # KEY SHARE lock), and must not wait for an agent's answer to commit.
    return (
        QuestionGroup.objects.select_for_update(no_key=True, of=("self",))
        .select_related("stream__channel", "claimed_by", "answered_by")
        .get(pk=group.pk)
    )


# Answering, like claiming, locks the group with one statement that also says whether the
# agent is crewed as the stream's CS agent (anyone else goes through `_allowed`), and writes
# the answer and its outbox row with another.

_ANSWER_LOCK = f"""
    SELECT {_GROUP_COLUMNS},
           EXISTS (
               SELECT 1 FROM {CrewAssignment._meta.db_table}
               WHERE stream_id = g.stream_id AND person_id = %(actor)s AND role = %(cs_agent)s
           )
    FROM {_GROUPS} AS g WHERE g.id = %(group)s
    FOR NO KEY UPDATE
"""

_ANSWER_WRITE = f"""
    WITH answered AS (
        UPDATE {_GROUPS} AS g
        SET status = %(answered)s, answered_by_id = %(actor)s, answered_at = %(now)s,
            reply = %(reply)s, claimed_by_id = NULL, claim_expires_at = NULL,
            version = %(version)s
        WHERE g.id = %(group)s
        RETURNING {_GROUP_COLUMNS}
    ),
    outbox AS (
        INSERT INTO {ReplyOutbox._meta.db_table} (
            group_id, stream_id, idempotency_key, text, to_users, status, attempts,
            next_attempt_at, platform_message_id, last_error, created_at
        )
        SELECT id, stream_id, %(key)s, %(reply)s,
               to_jsonb(ARRAY(
                   SELECT DISTINCT user_id FROM {Question._meta.db_table}
                   WHERE group_id = %(group)s ORDER BY user_id
               )),
               %(pending)s, 0, %(now)s, '', '', %(now)s
        FROM answered
        RETURNING id
    )
    SELECT answered.*, {askers_sql("answered.id")}, outbox.id FROM answered, outbox
"""


def _answering(actor: User, group: QuestionGroup) -> QuestionGroup:
    """The group locked for the actor to answer, once they may work its queue."""
    if actor.is_active:
        rows = prepared.execute(
            _ANSWER_LOCK, {"actor": actor.pk, "group": group.pk, "cs_agent": CrewRole.CS_AGENT}
        )
        if rows and rows[0][-1]:
            locked = _group_from_row(rows[0])
            if locked.claimed_by_id == actor.pk:
                locked.claimed_by = actor
            return locked
    _allowed(actor, "support.work_queue", group.stream)
    return _locked_group(group)


def _answer_on_sight(
    actor: User,
    group: QuestionGroup,
    seen_version: int,
    text: str,
    canned_reply_ids: Sequence[int],
    *,
    now: datetime,
) -> QuestionGroup | None:
    """The answer of a crewed CS agent holding the group, outside any transaction: one read,
    then `support_answer_write` if the group's row has not changed since. None when the
    answer must be decided in a transaction (refusals included, which it words)."""
    seen = _read_on_sight(actor, group.pk)
    if (
        seen is None
        or not seen.crewed
        or not _holds(seen.group, actor, now)
        or seen.group.version != seen_version
    ):
        return None
    reply = reply_compose(group=seen.group, text=text, canned_reply_ids=canned_reply_ids)
    answered, event = _changed(
        seen,
        "answered",
        status=GroupStatus.ANSWERED,
        answered_by=actor,
        answered_at=now,
        reply=reply,
        claimed_by=None,
        claim_expires_at=None,
    )
    written = eventlog.commit_alone(
        _ANSWER_ALONE,
        {
            "group": group.pk,
            "xmin": seen.xmin,
            "actor": actor.pk,
            "now": now,
            "reply": reply,
            "key": reply_idempotency_key(answered),
            "answered": GroupStatus.ANSWERED,
            "pending": OutboxStatus.PENDING,
        },
        answered.stream_id,
        [event],
    )
    if written is None:
        return None
    # Outside any transaction this rings at once; robust, as in `group_answer`.
    _ring_for_replies_after_commit(answered.stream_id)
    return answered


def _ring_for_replies_after_commit(stream_id: int) -> None:
    """Robust: the reply is committed in the outbox, whose sweep sends it if the broker is
    away now; the agent must not be told their answer failed. (A function, not a
    `partial`: Django names the callback when it logs a robust hook's failure, and a
    `partial` has no name, so the logging itself would raise.)"""
    transaction.on_commit(lambda: replies_ring(stream_id), robust=True)


_ANSWER_ALONE = """
    SELECT seq, at FROM support_answer_write(
        %(group)s, %(xmin)s, %(actor)s, %(now)s, %(reply)s, %(key)s, %(answered)s, %(pending)s,
        %(stream)s, %(types)s::text[], %(ops)s::text[], %(datas)s::text[]
    )
"""


def group_answer(
    *,
    actor: User,
    group: QuestionGroup,
    seen_version: int,
    text: str = "",
    canned_reply_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> QuestionGroup:
    """Answer a group one holds: the reply goes to every asker through the outbox.

    Refused with `GroupConflict` unless the agent holds the claim and the group is at
    `seen_version`, the version their screen last showed: an agent whose connection
    dropped while someone else answered sees that answer before they can reply.
    """
    now = now or timezone.now()
    answered = _answer_on_sight(actor, group, seen_version, text, canned_reply_ids, now=now)
    if answered is not None:
        return answered
    # Every refusal (permission, conflict, the reply itself) comes before anything is written.
    with prepared.atomic_refusing():
        locked = _answering(actor, group)
        if not _holds(locked, actor, now) or locked.version != seen_version:
            raise GroupConflict(_refusal(locked, actor, now=now), current=_data(locked))
        reply = reply_compose(group=locked, text=text, canned_reply_ids=canned_reply_ids)
        locked.version += 1
        [row] = prepared.execute(
            _ANSWER_WRITE,
            {
                "group": locked.pk,
                "actor": actor.pk,
                "now": now,
                "reply": reply,
                "version": locked.version,
                "key": reply_idempotency_key(locked),
                "answered": GroupStatus.ANSWERED,
                "pending": OutboxStatus.PENDING,
            },
        )
        answered = _group_from_row(row)
        answered.claimed_by, answered.answered_by = None, actor
        _publish_row("answered", answered, row)
        _ring_for_replies_after_commit(answered.stream_id)
    return answered


# --- Escalation ----------------------------------------------------------------------------


def group_escalate(
    *,
    actor: User,
    group: QuestionGroup,
    seen_version: int | None = None,
    now: datetime | None = None,
) -> QuestionGroup:
    """Hand a group to the host to answer on air: it leaves the agents' queue and shows on
    the wall screen and the operator's console until the operator says it was answered."""
    _allowed(actor, "support.work_queue", group.stream)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_group(group)
        held_by_other = (
            locked.claimed_by_id not in (None, actor.pk) and locked.claim_expires_at >= now
        )
        if (
            locked.status != GroupStatus.OPEN
            or locked.merged_into_id
            or held_by_other
            or (seen_version is not None and locked.version != seen_version)
        ):
            raise GroupConflict(_refusal(locked, actor, now=now), current=_data(locked))
        locked.status = GroupStatus.ESCALATED
        locked.claimed_by, locked.claim_expires_at = None, None
        locked.version += 1
        locked.save(update_fields=["status", "claimed_by", "claim_expires_at", "version"])
        _publish("escalated", [locked])
    return locked


def group_answered_on_air(
    *, actor: User, group: QuestionGroup, now: datetime | None = None
) -> QuestionGroup:
    """The room operator (中控) confirms the host answered an escalated group on air."""
    _allowed(actor, "rooms.run_show", group.stream)
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_group(group)
        if locked.status != GroupStatus.ESCALATED:
            raise GroupConflict(
                _refusal(locked, actor, now=now)
                if locked.status != GroupStatus.OPEN
                else _("This question is not with the host."),
                current=_data(locked),
            )
        locked.status = GroupStatus.ANSWERED
        locked.answered_by, locked.answered_at = actor, now
        locked.version += 1
        locked.save(update_fields=["status", "answered_by", "answered_at", "version"])
        _publish("answered", [locked])
    return locked


# --- SLA -------------------------------------------------------------------------------------

DEFAULT_WARN_BEFORE = SupportPolicy._meta.get_field("warn_before").default


SLA_BATCH = 500


def sla_sweep(*, now: datetime | None = None) -> tuple[int, int]:
    """Flag open groups near their deadline (warning) and past it (breach), once each.

    Set-based UPDATEs that walk the index of open, unbreached deadlines from the earliest,
    in batches, whatever the number of open questions: no timer per question. (Reading in
    deadline order with a limit also keeps the planner on that index: the history of
    answered groups makes "deadline before now" look common to it.) Groups locked by an
    agent's action at that instant are skipped and flagged by the next sweep. The flags do
    not change a group's version: a warning must not turn the reply its agent is sending
    into a conflict. Each stream with groups flagged gets one "sla" event naming them, not
    the groups again: nothing else about them changed, and a sweep may flag hundreds.
    Returns (warned, breached).
    """
    now = now or timezone.now()
    policies = SupportPolicy._meta.db_table
    streams = Stream._meta.db_table
    with transaction.atomic():
        breached = _flag_due(
            f"""
            WITH due AS (
                SELECT id FROM {_GROUPS}
                WHERE status = 'open' AND NOT breached AND deadline <= %s
                ORDER BY deadline LIMIT %s FOR NO KEY UPDATE SKIP LOCKED
            )
            UPDATE {_GROUPS} AS g SET breached = true
            WHERE g.id = ANY(ARRAY(SELECT id FROM due))
            RETURNING g.stream_id, g.id
            """,
            [now],
        )
        longest = SupportPolicy.objects.aggregate(longest=Max("warn_before"))["longest"]
        horizon = now + max(longest or DEFAULT_WARN_BEFORE, DEFAULT_WARN_BEFORE)
        warned = _flag_due(
            f"""
            WITH due AS (
                SELECT g.id FROM {_GROUPS} AS g
                JOIN {streams} AS s ON s.id = g.stream_id
                LEFT JOIN {policies} AS p ON p.channel_id = s.channel_id
                WHERE g.status = 'open' AND NOT g.breached AND NOT g.warned
                  AND g.deadline > %s AND g.deadline <= %s
                  AND g.deadline <= %s + COALESCE(p.warn_before, %s)
                ORDER BY g.deadline LIMIT %s FOR NO KEY UPDATE OF g SKIP LOCKED
            )
            UPDATE {_GROUPS} AS g SET warned = true
            WHERE g.id = ANY(ARRAY(SELECT id FROM due))
            RETURNING g.stream_id, g.id
            """,
            [now, horizon, now, DEFAULT_WARN_BEFORE],
        )
        with eventlog.deferred():
            for stream_id in sorted(warned.keys() | breached.keys()):
                sla_flagged(
                    stream_id=stream_id,
                    warned=warned.get(stream_id, []),
                    breached=breached.get(stream_id, []),
                )
    return sum(map(len, warned.values())), sum(map(len, breached.values()))


def _flag_due(sql: str, params: Sequence) -> dict[int, list[int]]:
    """Run a flagging UPDATE (its last parameter the batch size, returning stream_id, id)
    until a batch comes back short; the groups it flagged, per stream, in id order. A group
    it flags leaves the UPDATE's condition, so each batch starts where the last ended."""
    by_stream: dict[int, list[int]] = {}
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [*params, SLA_BATCH])
            rows = cursor.fetchall()
            for stream_id, group_id in rows:
                by_stream.setdefault(stream_id, []).append(group_id)
            if len(rows) < SLA_BATCH:
                break
    return {stream_id: sorted(ids) for stream_id, ids in by_stream.items()}


# --- Agents ----------------------------------------------------------------------------------

# An agent whose screen has said nothing for this long has gone (closed, crashed, offline).
AGENT_SILENCE = timedelta(seconds=60)


def _agent_locked(actor: User) -> Agent:
    Agent.objects.get_or_create(user=actor)
    return Agent.objects.select_for_update().get(user=actor)


def agent_heartbeat(*, actor: User, now: datetime | None = None) -> Agent:
    """The agent's screen is open (it says so every AGENT_HEARTBEAT): renew their leases.

    A lease that already ran out is not revived: that group may be someone else's now.
    Renewal changes no version and logs nothing — it is not news to anyone.
    """
    now = now or timezone.now()
    with transaction.atomic():
        agent = _agent_locked(actor)
        agent.last_seen_at = now
        agent.save(update_fields=["last_seen_at"])
        _update_returning(
            f"""
            WITH held AS (
                SELECT id FROM {_GROUPS} WHERE {_held_sql("%s", "%s")}
                ORDER BY id FOR NO KEY UPDATE
            )
            UPDATE {_GROUPS} AS g SET claim_expires_at = %s FROM held WHERE g.id = held.id
            RETURNING g.id
            """,
            [actor.pk, now, now + CLAIM_LEASE],
        )
    return agent


def agent_set_status(
    *, actor: User, status: str, hand_back: bool = False, now: datetime | None = None
) -> Agent:
    """Go online, on a break or offline. Leaving with questions in hand is refused unless
    they are handed back (`hand_back`), which returns them to the queue."""
    if status not in AgentStatus.values:
        raise ValidationError({"status": _("Choose online, break or offline.")})
    now = now or timezone.now()
    with transaction.atomic():
        agent = _agent_locked(actor)
        if status != AgentStatus.ONLINE:
            held = QuestionGroup.objects.filter(
                claimed_by=actor, status=GroupStatus.OPEN, claim_expires_at__gte=now
            ).count()
            if held and not hand_back:
                raise ValidationError(
                    ngettext(
                        "You hold %(n)d question: hand it back first.",
                        "You hold %(n)d questions: hand them back first.",
                        held,
                    )
                    % {"n": held},
                    code="holding_claims",
                )
            _release("claimed_by_id = %s", [actor.pk])
        agent.status, agent.last_seen_at = status, now
        agent.save(update_fields=["status", "last_seen_at"])
    return agent


def agent_update(
    *,
    actor: User | None,
    agent: Agent,
    capacity: int | None = None,
    languages: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
) -> Agent:
    """A supervisor sets how many groups an agent takes at once and what they answer."""
    _allowed(actor, "support.supervise")
    if capacity is not None:
        if not 1 <= capacity <= 50:
            raise ValidationError({"capacity": _("Between 1 and 50 groups at once.")})
        agent.capacity = capacity
    if languages is not None:
        agent.languages = sorted({code.strip().lower() for code in languages if code.strip()})
    if categories is not None:
        unknown = set(categories) - set(Category.values)
        if unknown:
            raise ValidationError(
                {"categories": _("Unknown category: %(c)s.") % {"c": ", ".join(sorted(unknown))}}
            )
        agent.categories = sorted(set(categories))
    agent.save(update_fields=["capacity", "languages", "categories"])
    return agent


def agents_sweep(*, now: datetime | None = None) -> int:
    """Take agents whose screens went silent offline, returning their groups to the queue."""
    now = now or timezone.now()
    cutoff = now - AGENT_SILENCE
    silent = Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True)
    gone = 0
    candidates = Agent.objects.exclude(status=AgentStatus.OFFLINE).filter(silent)
    for agent_id in candidates.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            agent = (
                Agent.objects.select_for_update(skip_locked=True)
                .exclude(status=AgentStatus.OFFLINE)
                .filter(silent, pk=agent_id)
                .first()
            )
            if agent is None:
                continue
            _release("claimed_by_id = %s", [agent.user_id])
            agent.status = AgentStatus.OFFLINE
            agent.save(update_fields=["status"])
            gone += 1
    return gone


# --- Canned replies --------------------------------------------------------------------------


def _canned_check(channel_id: int, shortcut: int | None, text: str, exclude: int | None) -> None:
    unknown = variables_unknown(text)
    if unknown:
        raise ValidationError(
            {
                "text": _("Unknown variable %(names)s; use %(known)s.")
                % {
                    "names": ", ".join(f"{{{name}}}" for name in unknown),
                    "known": ", ".join(f"{{{name}}}" for name in REPLY_VARIABLES),
                }
            }
        )
    if shortcut is not None:
        if not 1 <= shortcut <= 9:
            raise ValidationError({"shortcut": _("A shortcut is a key from 1 to 9.")})
        taken = CannedReply.objects.filter(channel_id=channel_id, shortcut=shortcut)
        if exclude is not None:
            taken = taken.exclude(pk=exclude)
        if taken.exists():
            raise ValidationError(
                {"shortcut": _("Key %(n)d is taken by another reply.") % {"n": shortcut}}
            )


def canned_reply_create(
    *,
    actor: User | None,
    channel: Channel,
    title: str,
    text: str,
    shortcut: int | None = None,
    category: str = "",
) -> CannedReply:
    _allowed(actor, "support.supervise")
    _canned_check(channel.pk, shortcut, text, None)
    reply = CannedReply(
        channel=channel, title=title, text=text, shortcut=shortcut, category=category
    )
    reply.full_clean()
    try:
        with transaction.atomic():
            reply.save()
    except IntegrityError as exc:  # a concurrent save took the key first
        raise ValidationError({"shortcut": _("That key was just taken.")}) from exc
    return reply


def canned_reply_update(*, actor: User | None, reply: CannedReply, **changes) -> CannedReply:
    _allowed(actor, "support.supervise")
    for name in ("title", "text", "shortcut", "category"):
        if name in changes:
            setattr(reply, name, changes[name])
    _canned_check(reply.channel_id, reply.shortcut, reply.text, reply.pk)
    reply.full_clean()
    try:
        with transaction.atomic():
            reply.save()
    except IntegrityError as exc:
        raise ValidationError({"shortcut": _("That key was just taken.")}) from exc
    return reply


def canned_reply_delete(*, actor: User | None, reply: CannedReply) -> None:
    _allowed(actor, "support.supervise")
    reply.delete()


# --- Reply outbox ----------------------------------------------------------------------------

REPLY_MAX_ATTEMPTS = 6
# A row left "sending" this long lost its worker mid-send; the sweep tries it again (the
# platform's client key makes that safe whether or not the first send landed).
REPLY_SEND_TIMEOUT = timedelta(seconds=60)

# A stream's replies are sent by a delivery task that sends every one then due
# (`tasks.replies_deliver_task`). An answer rings for one unless one is already waiting to
# start, which a flag in the cache says: a queue answering hundreds of questions a second
# enqueues a task now and then, not one per reply. The task lowers the flag before it reads
# what is due, so a reply committed after that read rings again. A lost task leaves the flag
# up until it expires; the outbox sweep sends its replies meanwhile.
REPLY_DOORBELL_SECONDS = 30


def _replies_doorbell(stream_id: int) -> str:
    return f"support:replies-waiting:{stream_id}"


def replies_ring(stream_id: int) -> None:
    """Have the stream's due replies sent: enqueue its delivery task unless one is waiting."""
    from .tasks import replies_deliver_task

    if cache.add(_replies_doorbell(stream_id), 1, REPLY_DOORBELL_SECONDS):
        replies_deliver_task.delay(stream_id)


def replies_answer_door(stream_id: int) -> None:
    """The delivery task has started: the next reply committed rings again."""
    cache.delete(_replies_doorbell(stream_id))


def _reply_backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8, 16 s: the SLA counts in minutes, so retries stay quick."""
    return timedelta(seconds=min(2 ** (attempts - 1), 60))


def reply_deliver(*, outbox_id: int, now: datetime | None = None) -> ReplyOutbox | None:
    """Send one reply from the outbox, if it is due and nobody else is sending it.

    The row is marked "sending" and committed before the platform is called, so no lock is
    held over the network. Every attempt carries the row's idempotency key: a retry after a
    timeout whose reply did land gets the platform's existing message back instead of a
    second post. Returns the row as it ends, or None when there was nothing to do.
    """
    now = now or timezone.now()
    with transaction.atomic():
        row = (
            ReplyOutbox.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("stream__channel")
            .filter(
                pk=outbox_id,
                status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING],
                next_attempt_at__lte=now,
            )
            .first()
        )
        if row is None:
            return None
        row.status = OutboxStatus.SENDING
        row.attempts += 1
        row.next_attempt_at = now + REPLY_SEND_TIMEOUT
        row.save(update_fields=["status", "attempts", "next_attempt_at"])
    adapter = platforms.adapter_for(row.stream.channel)
    outcome: dict = {}
    try:
        message_id = adapter.send_reply(
            channel=row.stream.channel,
            stream=row.stream,
            text=row.text,
            to_users=row.to_users,
            idempotency_key=row.idempotency_key,
        )
    except platforms.PlatformRejected as exc:
        outcome = {"status": OutboxStatus.FAILED, "last_error": str(exc)[:1000]}
    except Exception as exc:  # a timeout, or anything else that leaves the outcome unknown
        if not isinstance(exc, platforms.PlatformTimeout):
            logger.exception("reply %s: unexpected error from the platform adapter", row.pk)
        failed = row.attempts >= REPLY_MAX_ATTEMPTS
        outcome = {
            "status": OutboxStatus.FAILED if failed else OutboxStatus.PENDING,
            "last_error": (str(exc) or type(exc).__name__)[:1000],
            "next_attempt_at": row.next_attempt_at
            if failed
            else now + _reply_backoff(row.attempts),
        }
    else:
        outcome = {
            "status": OutboxStatus.DELIVERED,
            "platform_message_id": message_id,
            "delivered_at": timezone.now(),
            "last_error": "",
        }
    # Only the attempt that marked the row may settle it.
    ReplyOutbox.objects.filter(
        pk=row.pk, status=OutboxStatus.SENDING, attempts=row.attempts
    ).update(**outcome)
    for name, value in outcome.items():
        setattr(row, name, value)
    if row.status == OutboxStatus.FAILED:
        logger.warning("reply %s failed for good: %s", row.pk, row.last_error)
    return row


def replies_due(
    *, stream_id: int | None = None, now: datetime | None = None, limit: int = 1000
) -> list[int]:
    """Outbox rows whose next attempt is due, oldest first (of one stream, if given): new
    replies, retries, lost enqueues, a worker that died."""
    now = now or timezone.now()
    due = ReplyOutbox.objects.filter(
        status__in=[OutboxStatus.PENDING, OutboxStatus.SENDING], next_attempt_at__lte=now
    )
    if stream_id is not None:
        due = due.filter(stream_id=stream_id)
    return list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


# --- Channel policy (helper "screens": the supervisor's policy page) ---------------------------

POLICY_SLA_RANGE = (timedelta(seconds=30), timedelta(hours=24))


def _policy_words(values: Sequence[str]) -> list[str]:
    """Trimmed, without blanks or repeats, in the order given."""
    return list(dict.fromkeys(value.strip() for value in values if value and value.strip()))


def support_policy_update(
    *,
    actor: User | None,
    channel: Channel,
    sla: timedelta,
    warn_before: timedelta,
    keywords: dict[str, Sequence[str]],
    blocked_words: Sequence[str],
    muted_users: Sequence[str],
    vip_users: Sequence[str],
    shipping_time: str = "",
) -> SupportPolicy:
    """A supervisor sets a channel's support rules. They apply to questions asked from now
    on: open groups keep the deadline they were given."""
    _allowed(actor, "support.supervise")
    errors: dict[str, str] = {}
    shortest, longest = POLICY_SLA_RANGE
    if not shortest <= sla <= longest:
        errors["sla"] = _("Between %(low)d seconds and %(high)d hours.") % {
            "low": shortest.total_seconds(),
            "high": longest.total_seconds() // 3600,
        }
    elif not timedelta(0) <= warn_before < sla:
        errors["warn_before"] = _("Warn before the deadline: less than the reply time.")
    unknown = set(keywords) - set(Category.values)
    if unknown:
        errors["keywords"] = _("Unknown category: %(c)s.") % {"c": ", ".join(sorted(unknown))}
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        SupportPolicy.objects.get_or_create(channel=channel)
        policy = SupportPolicy.objects.select_for_update().get(channel=channel)
        policy.sla, policy.warn_before = sla, warn_before
        policy.keywords = {
            category: words
            for category in Category.values
            if (words := _policy_words(keywords.get(category, ())))
        }
        policy.blocked_words = _policy_words(blocked_words)
        policy.muted_users = _policy_words(muted_users)
        policy.vip_users = _policy_words(vip_users)
        policy.shipping_time = shipping_time.strip()
        policy.full_clean()
        policy.save()
    return policy
