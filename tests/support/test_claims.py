"""Claims: exactly one agent holds a group, as a lease that lapses when the agent goes
silent; the queue hands out the next group by capacity and skills; an agent whose
connection dropped while someone else answered cannot reply over that answer."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rooms import eventlog
from rooms import services as room_services
from rooms.models import CrewRole, Role, StreamEvent
from support import services
from support.models import Agent, AgentStatus, GroupStatus, QuestionGroup, ReplyOutbox
from support.selectors import groups_data, queue_for_stream
from support.tasks import claims_sweep_task
from tests.conftest import locks_awaited, wait_until
from tests.factories import (
    AgentFactory,
    CrewAssignmentFactory,
    QuestionFactory,
    QuestionGroupFactory,
    StreamFactory,
    UserFactory,
)
from tests.rooms.test_show import live_stream, room_operator

pytestmark = pytest.mark.django_db

LEASE = services.CLAIM_LEASE

# As the API calls them, outside any transaction, claims and answers take the path of one
# read and one message to the database; inside the test's transaction, the other.
BOTH_PATHS = pytest.mark.parametrize(
    "path",
    ["in a transaction", pytest.param("alone", marks=pytest.mark.django_db(transaction=True))],
)


def cs_agent(stream, **agent_fields):
    """A CS agent (客服) crewed on the stream, online."""
    agent = AgentFactory(**agent_fields)
    CrewAssignmentFactory(stream=stream, person=agent.user, role=CrewRole.CS_AGENT)
    return agent.user


def question_events(stream, op: str | None = None) -> list[dict]:
    events = StreamEvent.objects.filter(stream=stream, type="question").order_by("seq")
    if op is not None:
        events = events.filter(op=op)
    return [{"op": event.op, **event.data} for event in events]


# --- One group, one holder ---------------------------------------------------------------------


def test_a_claim_is_held_by_one_agent_and_logged_with_who_holds_it():
    group = QuestionGroupFactory()
    QuestionFactory(group=group, user_name="阿花")
    anna = cs_agent(group.stream)
    now = timezone.now()

    claimed = services.group_claim(actor=anna, group=group, seen_version=0, now=now)

    assert (claimed.claimed_by_id, claimed.claim_expires_at, claimed.version) == (
        anna.pk,
        now + LEASE,
        1,
    )
    [event] = question_events(group.stream)
    assert (event["op"], event["id"], event["claimed_by"], event["claimed_by_name"]) == (
        "claimed",
        group.pk,
        anna.pk,
        str(anna),
    )
    assert (event["version"], event["askers"]) == (1, ["阿花"])


@BOTH_PATHS
def test_a_second_agent_is_refused_and_shown_who_holds_the_group(path):
    group = QuestionGroupFactory()
    anna, ben = cs_agent(group.stream), cs_agent(group.stream)
    services.group_claim(actor=anna, group=group)

    with pytest.raises(services.GroupConflict) as refused:
        services.group_claim(actor=ben, group=group)

    assert refused.value.code == "conflict"
    assert refused.value.current["claimed_by"] == anna.pk
    assert str(anna) in refused.value.messages[0]
    assert [event["op"] for event in question_events(group.stream)] == ["claimed"]


def test_claiming_ones_own_group_again_changes_nothing():
    group = QuestionGroupFactory()
    anna = cs_agent(group.stream)
    first = services.group_claim(actor=anna, group=group)

    again = services.group_claim(actor=anna, group=group)

    assert again.version == first.version == 1
    assert len(question_events(group.stream)) == 1


@BOTH_PATHS
def test_a_claim_on_a_group_changed_since_the_agent_saw_it_is_refused(path):
    group = QuestionGroupFactory(version=4)
    anna = cs_agent(group.stream)

    with pytest.raises(services.GroupConflict) as refused:
        services.group_claim(actor=anna, group=group, seen_version=3)

    assert refused.value.current["version"] == 4
    assert QuestionGroup.objects.get().claimed_by is None


@BOTH_PATHS
def test_a_lapsed_lease_can_be_taken_over_before_the_sweep_returns_it(path):
    group = QuestionGroupFactory()
    anna, ben = cs_agent(group.stream), cs_agent(group.stream)
    start = timezone.now()
    services.group_claim(actor=anna, group=group, now=start)

    taken = services.group_claim(actor=ben, group=group, now=start + LEASE + timedelta(seconds=1))

    assert (taken.claimed_by_id, taken.version) == (ben.pk, 2)


@BOTH_PATHS
def test_an_agent_who_is_not_online_cannot_claim(path):
    group = QuestionGroupFactory()
    anna = cs_agent(group.stream, status=AgentStatus.BREAK)

    with pytest.raises(services.ValidationError) as refused:
        services.group_claim(actor=anna, group=group)

    assert refused.value.code == "not_online"


@BOTH_PATHS
def test_an_agent_at_capacity_cannot_claim_more(path):
    stream = StreamFactory()
    first, second = QuestionGroupFactory.create_batch(2, stream=stream)
    anna = cs_agent(stream, capacity=1)
    services.group_claim(actor=anna, group=first)

    with pytest.raises(services.ValidationError) as refused:
        services.group_claim(actor=anna, group=second)

    assert refused.value.code == "capacity"
    assert QuestionGroup.objects.get(pk=second.pk).claimed_by is None


@BOTH_PATHS
def test_someone_not_on_the_streams_crew_cannot_claim(path):
    group = QuestionGroupFactory()
    outsider = AgentFactory().user

    with pytest.raises(services.PermissionDenied):
        services.group_claim(actor=outsider, group=group)


@BOTH_PATHS
def test_an_answered_group_cannot_be_claimed(path):
    group = QuestionGroupFactory(status=GroupStatus.ANSWERED)
    anna = cs_agent(group.stream)

    with pytest.raises(services.GroupConflict) as refused:
        services.group_claim(actor=anna, group=group)

    assert refused.value.current["status"] == "answered"


def _orm_queries(captured: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in captured.captured_queries
        if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def _as_logged(group_id: int) -> dict:
    """The group as its events carry it, read afresh from the database."""
    fresh = QuestionGroup.objects.select_related("claimed_by", "answered_by").get(pk=group_id)
    return groups_data([fresh])[0]


ALONE = "crewed CS agent, outside any transaction"


@pytest.mark.parametrize(
    "who",
    [
        pytest.param(ALONE, marks=pytest.mark.django_db(transaction=True)),
        "crewed CS agent",
        "producer of the studio",
    ],
)
def test_claims_and_answers_log_the_group_as_it_is_whoever_makes_them(who):
    """As the API makes them, outside any transaction, a crewed CS agent's claim and answer
    are each one read and one message to the database; inside one, two statements; anyone
    else's take the full path. All log the group exactly as the queue's reads show it."""
    stream = StreamFactory()
    group = QuestionGroupFactory(stream=stream)
    QuestionFactory(group=group, user_name="阿花", user_id="v2")
    QuestionFactory(group=group, user_name="Lily", user_id="v1")
    if who == "producer of the studio":
        person = AgentFactory(user=UserFactory(roles=[Role.PRODUCER])).user
        stream.studio.members.add(person)
    else:
        person = cs_agent(stream)

    with CaptureQueriesContext(connection) as claiming:
        claimed = services.group_claim(actor=person, group=group)
    [claim_event] = question_events(stream, "claimed")
    claimed_as_stored = _as_logged(group.pk)
    with CaptureQueriesContext(connection) as answering:
        answered = services.group_answer(
            actor=person, group=group, seen_version=claimed.version, text="亲, 选M码"
        )
    [answer_event] = question_events(stream, "answered")
    [outbox] = ReplyOutbox.objects.filter(group=group)

    # The prepared statements and the one-message writes are not in Django's query log: a
    # crewed agent's claim and answer show nothing there, or only their savepoint inside
    # the test's transaction; the full path shows its queries.
    if who == ALONE:
        assert (claiming.captured_queries, answering.captured_queries) == ([], [])
    full_path = who == "producer of the studio"
    assert _orm_queries(claiming) != [] if full_path else _orm_queries(claiming) == []
    assert _orm_queries(answering) != [] if full_path else _orm_queries(answering) == []
    assert claim_event == {"op": "claimed", **claimed_as_stored}
    assert claim_event == {"op": "claimed", **groups_data([claimed])[0]}
    assert answer_event == {"op": "answered", **_as_logged(group.pk)}
    assert answer_event == {"op": "answered", **groups_data([answered])[0]}
    assert (claim_event["claimed_by_name"], answer_event["answered_by"]) == (str(person),) * 2
    assert (answer_event["reply"], sorted(answer_event["askers"])) == (
        "亲, 选M码",
        ["Lily", "阿花"],
    )
    assert (outbox.text, outbox.to_users) == ("亲, 选M码", ["v1", "v2"])
    assert outbox.idempotency_key == services.reply_idempotency_key(answered)


def _grown_while(work, group) -> dict:
    """Run `work` on a thread of its own while a viewer's question joins the group: the
    group's row is changed and locked when `work` reaches it, and committed after."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["done"] = work()
        finally:
            connection.close()

    with transaction.atomic():
        QuestionFactory(group=group, user_name="新来的", user_id="v9")
        QuestionGroup.objects.filter(pk=group.pk).update(count=F("count") + 1)
        worker = threading.Thread(target=run)
        worker.start()
        wait_until(lambda: locks_awaited() > 0)
    worker.join()
    return outcome


@pytest.mark.django_db(transaction=True)
def test_a_group_that_grows_while_it_is_claimed_is_logged_as_it_has_grown():
    """The claim read the group before the new question joined; made alone, it would log
    the group as read. It finds the row changed and is made afresh."""
    stream = StreamFactory()
    group = QuestionGroupFactory(stream=stream, count=1)
    QuestionFactory(group=group, user_name="阿花")
    anna = cs_agent(stream)

    outcome = _grown_while(lambda: services.group_claim(actor=anna, group=group), group)
    [claim_event] = question_events(stream, "claimed")

    assert outcome["done"].claimed_by_id == anna.pk
    assert claim_event == {"op": "claimed", **_as_logged(group.pk)}
    assert (claim_event["count"], "新来的" in claim_event["askers"]) == (2, True)


@pytest.mark.django_db(transaction=True)
def test_a_group_that_grows_while_it_is_answered_is_answered_to_every_asker_and_logged_so():
    stream = StreamFactory()
    group = QuestionGroupFactory(stream=stream, count=1)
    QuestionFactory(group=group, user_name="阿花", user_id="v1")
    anna = cs_agent(stream)
    claimed = services.group_claim(actor=anna, group=group)

    def answer():
        return services.group_answer(
            actor=anna, group=group, seen_version=claimed.version, text="有货"
        )

    outcome = _grown_while(answer, group)
    [answer_event] = question_events(stream, "answered")

    assert outcome["done"].status == GroupStatus.ANSWERED
    assert answer_event == {"op": "answered", **_as_logged(group.pk)}
    assert answer_event["count"] == 2
    assert ReplyOutbox.objects.get(group=group).to_users == ["v1", "v9"]


def _claim_from_another_connection(actor, group) -> tuple[threading.Thread, dict]:
    """The actor's claim, started on a thread of its own; a refusal lands in the dict."""
    outcome: dict = {}

    def claim() -> None:
        try:
            services.group_claim(actor=actor, group=group)
        except services.GroupConflict as refused:
            outcome["refused"] = refused
        finally:
            connection.close()

    thread = threading.Thread(target=claim)
    thread.start()
    return thread, outcome


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_loses_the_race_after_reading_the_group_free_is_refused_with_the_winner():
    """Ben reads the group free while Anna's claim is not yet committed; his UPDATE waits for
    her commit, matches nothing, and he is told she holds it."""
    stream = StreamFactory()
    group = QuestionGroupFactory(stream=stream)
    anna, ben = cs_agent(stream), cs_agent(stream)
    with transaction.atomic():
        assert services._take(group.pk, anna, now=timezone.now(), seen_version=None)
        ben_thread, outcome = _claim_from_another_connection(ben, group)
        wait_until(lambda: locks_awaited() > 0)
    ben_thread.join()

    refused = outcome["refused"]
    assert refused.current["claimed_by"] == anna.pk
    assert str(anna) in refused.messages[0]
    assert QuestionGroup.objects.get().claimed_by_id == anna.pk


@pytest.mark.django_db(transaction=True)
def test_a_claim_of_a_group_already_taken_is_refused_without_waiting_for_a_lock():
    """Most claims under contention are of groups another agent took a moment ago: one read
    outside any transaction refuses them, waiting for nobody (here, Ben's own other screen
    holds his agent row mid-claim)."""
    stream = StreamFactory()
    group = QuestionGroupFactory(stream=stream)
    anna, ben = cs_agent(stream), cs_agent(stream)
    services.group_claim(actor=anna, group=group)
    with transaction.atomic():
        Agent.objects.select_for_update().get(user=ben)
        ben_thread, outcome = _claim_from_another_connection(ben, group)
        wait_until(lambda: "refused" in outcome or locks_awaited() > 0)
        waited = locks_awaited()
    ben_thread.join()

    assert waited == 0
    assert outcome["refused"].current["claimed_by"] == anna.pk
    assert str(anna) in outcome["refused"].messages[0]


def test_a_refusal_keeps_the_connections_prepared_statements():
    """A refused claim or answer commits what it read instead of rolling back, which would
    make psycopg drop every statement prepared on the connection."""
    stream = StreamFactory()
    taken, other = QuestionGroupFactory.create_batch(2, stream=stream)
    anna, ben = cs_agent(stream), cs_agent(stream)
    services.group_claim(actor=anna, group=taken)
    before = _prepared_on_this_connection()

    with pytest.raises(services.GroupConflict):
        services.group_claim(actor=ben, group=taken)
    with pytest.raises(services.GroupConflict):
        services.group_answer(actor=ben, group=other, seen_version=0, text="好的")

    assert before >= 2
    assert _prepared_on_this_connection() >= before  # none dropped


def _prepared_on_this_connection() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_one_agents_two_claims_at_once_stay_within_their_capacity():
    """Anna (capacity 1) claims two groups from two screens at once: her second claim waits
    for the first to commit and is then counted against it."""
    stream = StreamFactory()
    first, second = QuestionGroupFactory.create_batch(2, stream=stream)
    anna = cs_agent(stream, capacity=1)
    outcome: dict = {}

    def second_screen() -> None:
        try:
            services.group_claim(actor=anna, group=second)
        except services.ValidationError as refused:
            outcome["code"] = refused.code
        finally:
            connection.close()

    with transaction.atomic():
        services.group_claim(actor=anna, group=first)  # her row stays locked until commit
        screen = threading.Thread(target=second_screen)
        screen.start()
        wait_until(lambda: locks_awaited() > 0)
    screen.join()

    assert outcome == {"code": "capacity"}
    held = QuestionGroup.objects.filter(claimed_by=anna)
    assert list(held.values_list("pk", flat=True)) == [first.pk]


@pytest.mark.django_db(transaction=True)
def test_a_double_click_on_a_free_group_claims_it_once_and_refuses_neither():
    stream = StreamFactory()
    group = QuestionGroupFactory(stream=stream)
    anna = cs_agent(stream)
    outcome: dict = {}

    def second_click() -> None:
        try:
            outcome["claimed"] = services.group_claim(actor=anna, group=group)
        finally:
            connection.close()

    with transaction.atomic():
        first = services.group_claim(actor=anna, group=group)
        click = threading.Thread(target=second_click)
        click.start()
        wait_until(lambda: locks_awaited() > 0)
    click.join()

    assert (outcome["claimed"].pk, outcome["claimed"].version) == (group.pk, first.version)
    assert len(question_events(stream, "claimed")) == 1


# --- The next group ----------------------------------------------------------------------------


def test_the_next_group_is_the_most_pressing_one_the_agent_can_answer():
    stream = StreamFactory()
    now = timezone.now()
    QuestionGroupFactory(stream=stream, deadline=now + timedelta(minutes=3))
    pressing = QuestionGroupFactory(stream=stream, deadline=now + timedelta(minutes=1), count=9)
    anna = cs_agent(stream)

    claimed = services.group_claim_next(actor=anna, stream=stream, now=now)

    assert claimed.pk == pressing.pk
    assert claimed.claimed_by_id == anna.pk


@pytest.mark.parametrize("who", ["crewed CS agent", "producer of the studio"])
def test_the_next_group_is_the_same_and_logged_the_same_whoever_asks(who):
    """A crewed CS agent's "next" takes the two-statement path, anyone else's the full one;
    both hand out the group first in the queue's order and log it as stored."""
    stream = StreamFactory()
    now = timezone.now()
    for minutes, count, vip in [(3, 1, False), (2, 4, False), (2, 1, True), (1, 2, False)]:
        group = QuestionGroupFactory(
            stream=stream, deadline=now + timedelta(minutes=minutes), count=count, vip=vip
        )
        QuestionFactory(group=group, user_name=f"viewer {minutes}-{count}")
    if who == "crewed CS agent":
        person = cs_agent(stream)
    else:
        person = AgentFactory(user=UserFactory(roles=[Role.PRODUCER])).user
        stream.studio.members.add(person)
    first_in_queue = queue_for_stream(stream, user=person, now=now)[0]

    with CaptureQueriesContext(connection) as asking:
        claimed = services.group_claim_next(actor=person, stream=stream, now=now)

    full_path = who != "crewed CS agent"
    assert _orm_queries(asking) != [] if full_path else _orm_queries(asking) == []
    assert claimed.pk == first_in_queue.pk
    [event] = question_events(stream, "claimed")
    assert event == {"op": "claimed", **_as_logged(claimed.pk)}


def test_the_next_group_follows_the_queues_priority_for_the_pinned_product():
    stream = live_stream(products=2)
    operator = room_operator(stream)
    room_services.cue_call(actor=operator, stream=stream, kind="pin", link_number=2, go=True)
    now = timezone.now()
    QuestionGroupFactory(stream=stream, link_number=1, first_asked_at=now)
    pinned = QuestionGroupFactory(stream=stream, link_number=2, first_asked_at=now)
    anna = cs_agent(stream)

    claimed = services.group_claim_next(actor=anna, stream=stream, now=now)

    assert claimed.pk == pinned.pk


def test_the_next_group_matches_the_agents_languages_and_categories():
    stream = StreamFactory()
    now = timezone.now()
    QuestionGroupFactory(stream=stream, language="th", deadline=now + timedelta(seconds=30))
    QuestionGroupFactory(stream=stream, category="size", deadline=now + timedelta(seconds=40))
    wanted = QuestionGroupFactory(stream=stream, language="en", category="price")
    anna = cs_agent(stream, languages=["zh", "en"], categories=["price", "shipping"])

    claimed = services.group_claim_next(actor=anna, stream=stream, now=now)

    assert claimed.pk == wanted.pk


def test_the_next_group_follows_the_screens_filters():
    stream = StreamFactory()
    now = timezone.now()
    QuestionGroupFactory(stream=stream, link_number=1, deadline=now + timedelta(seconds=30))
    wanted = QuestionGroupFactory(stream=stream, link_number=2)
    anna = cs_agent(stream)

    claimed = services.group_claim_next(actor=anna, stream=stream, link_number=2, now=now)

    assert claimed.pk == wanted.pk


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ranked", [2, 4])
def test_the_next_group_goes_past_the_first_ranked_when_other_agents_have_them_locked(
    monkeypatch, ranked
):
    """The first groups by priority are locked by agents claiming them right now: the next
    free one is handed out, whether it was among the groups ranked first (4: the first
    statement finds it) or not (2: the second, ranking every free group, does)."""
    monkeypatch.setattr(services, "NEXT_RANKED", ranked)
    stream = StreamFactory()
    now = timezone.now()
    first, second, third = (
        QuestionGroupFactory(stream=stream, deadline=now + timedelta(seconds=seconds))
        for seconds in (10, 20, 30)
    )
    anna = cs_agent(stream)
    outcome: dict = {}

    def ask_for_next() -> None:
        try:
            outcome["claimed"] = services.group_claim_next(actor=anna, stream=stream, now=now)
        except Exception as failed:  # reported below
            outcome["failed"] = failed
        finally:
            connection.close()

    with transaction.atomic():
        locked = QuestionGroup.objects.select_for_update().filter(pk__in=[first.pk, second.pk])
        assert len(locked) == 2
        asking = threading.Thread(target=ask_for_next)
        asking.start()
        # Skipped, not waited for: it answers while the two are still locked.
        asking.join(timeout=10)
        assert not asking.is_alive(), "the next group waited for a locked one"

    assert "failed" not in outcome, outcome.get("failed")
    assert outcome["claimed"].pk == third.pk


def test_nothing_is_handed_out_when_the_queue_holds_nothing_free():
    stream = StreamFactory()
    held = QuestionGroupFactory(stream=stream)
    QuestionGroupFactory(stream=stream, status=GroupStatus.ESCALATED)
    anna, ben = cs_agent(stream), cs_agent(stream)
    services.group_claim(actor=anna, group=held)

    assert services.group_claim_next(actor=ben, stream=stream) is None


def test_the_next_group_respects_capacity():
    stream = StreamFactory()
    QuestionGroupFactory.create_batch(3, stream=stream)
    anna = cs_agent(stream, capacity=2)
    services.group_claim_next(actor=anna, stream=stream)
    services.group_claim_next(actor=anna, stream=stream)

    with pytest.raises(services.ValidationError) as refused:
        services.group_claim_next(actor=anna, stream=stream)

    assert refused.value.code == "capacity"


# --- Release, heartbeat, lease sweep -----------------------------------------------------------


def test_a_released_group_goes_back_to_the_queue_with_an_event():
    group = QuestionGroupFactory()
    anna, ben = cs_agent(group.stream), cs_agent(group.stream)
    services.group_claim(actor=anna, group=group)

    released = services.group_release(actor=anna, group=group)

    assert (released.claimed_by, released.version) == (None, 2)
    assert [event["op"] for event in question_events(group.stream)] == ["claimed", "released"]
    assert services.group_claim_next(actor=ben, stream=group.stream).pk == group.pk


def test_only_the_holder_can_release():
    group = QuestionGroupFactory()
    anna, ben = cs_agent(group.stream), cs_agent(group.stream)
    services.group_claim(actor=anna, group=group)

    with pytest.raises(services.GroupConflict):
        services.group_release(actor=ben, group=group)

    assert QuestionGroup.objects.get().claimed_by_id == anna.pk


def test_the_heartbeat_renews_live_leases_without_news():
    stream = StreamFactory()
    kept, lapsed = QuestionGroupFactory.create_batch(2, stream=stream)
    anna = cs_agent(stream)
    start = timezone.now()
    services.group_claim(actor=anna, group=kept, now=start + timedelta(seconds=20))
    services.group_claim(actor=anna, group=lapsed, now=start)
    beat = start + LEASE + timedelta(seconds=5)

    services.agent_heartbeat(actor=anna, now=beat)

    kept.refresh_from_db()
    lapsed.refresh_from_db()
    assert (kept.claim_expires_at, kept.version) == (beat + LEASE, 1)
    assert lapsed.claim_expires_at == start + LEASE  # not revived: it may be someone else's now
    assert [event["op"] for event in question_events(stream)] == ["claimed", "claimed"]


def test_the_lease_sweep_returns_lapsed_claims_only():
    stream = StreamFactory()
    lapsing, fresh = QuestionGroupFactory.create_batch(2, stream=stream)
    anna = cs_agent(stream)
    start = timezone.now()
    services.group_claim(actor=anna, group=lapsing, now=start)
    services.group_claim(actor=anna, group=fresh, now=start + timedelta(seconds=10))

    released = services.claims_sweep(now=start + LEASE + timedelta(seconds=1))

    assert released == 1
    assert QuestionGroup.objects.get(pk=lapsing.pk).claimed_by is None
    assert QuestionGroup.objects.get(pk=fresh.pk).claimed_by_id == anna.pk
    [event] = question_events(stream, "released")
    assert (event["id"], event["claimed_by"], event["version"]) == (lapsing.pk, None, 2)


def test_the_lease_sweep_task_returns_lapsed_claims():
    group = QuestionGroupFactory()
    anna = cs_agent(group.stream)
    services.group_claim(actor=anna, group=group, now=timezone.now() - LEASE * 2)

    claims_sweep_task.apply()

    assert QuestionGroup.objects.get().claimed_by is None


# --- Many agents at once -----------------------------------------------------------------------


def _run_agents(users, stream) -> tuple[dict[int, list[int]], list[BaseException]]:
    """Each agent, on its own thread and database connection, takes the next group and
    hands it to the host (which frees their capacity) until the queue has nothing left."""
    taken: dict[int, list[int]] = {user.pk: [] for user in users}
    errors: list[BaseException] = []
    start = threading.Barrier(len(users))

    def work(user) -> None:
        try:
            start.wait()
            while (group := services.group_claim_next(actor=user, stream=stream)) is not None:
                taken[user.pk].append(group.pk)
                services.group_escalate(actor=user, group=group, seen_version=group.version)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return taken, errors


@pytest.fixture
def connection_per_agent():
    """Room in the process's connection pool for fifty agents' connections at once, as
    several web processes would give them."""
    pool = connection.pool
    min_size, max_size = pool.min_size, pool.max_size
    pool.resize(min_size, max(max_size, 60))
    yield
    pool.resize(min_size, max_size)


@pytest.mark.django_db(transaction=True)
def test_fifty_agents_racing_over_a_thousand_groups_claim_each_exactly_once(
    connection_per_agent,
):
    stream = StreamFactory()
    QuestionGroup.objects.bulk_create(QuestionGroupFactory.build_batch(1000, stream=stream))
    users = [cs_agent(stream, capacity=3) for _ in range(50)]

    taken, errors = _run_agents(users, stream)

    assert errors == []
    claimed = [group_id for ids in taken.values() for group_id in ids]
    every_group = set(QuestionGroup.objects.values_list("pk", flat=True))
    assert len(claimed) == 1000
    assert set(claimed) == every_group
    claims_logged = Counter(event["id"] for event in question_events(stream, "claimed"))
    assert set(claims_logged) == every_group
    assert set(claims_logged.values()) == {1}
    assert set(QuestionGroup.objects.values_list("status", flat=True)) == {"escalated"}
    assert sum(1 for ids in taken.values() if ids) > 1  # they really raced


@pytest.mark.django_db(transaction=True)
def test_a_killed_agents_lease_returns_to_the_queue_within_its_timeout():
    stream = StreamFactory()
    group = QuestionGroupFactory(stream=stream)
    killed, other = cs_agent(stream), cs_agent(stream)
    start = timezone.now()
    services.group_claim(actor=killed, group=group, now=start)

    before = services.claims_sweep(now=start + LEASE - timedelta(seconds=1))
    after = services.claims_sweep(now=start + LEASE + timedelta(seconds=1))

    assert (before, after) == (0, 1)
    [event] = question_events(stream, "released")
    assert (event["id"], event["claimed_by"], event["status"]) == (group.pk, None, "open")
    assert services.group_claim_next(actor=other, stream=stream).pk == group.pk


# --- The reconnect case --------------------------------------------------------------------------


def test_an_agent_back_after_thirty_seconds_silence_sees_the_other_answer_before_replying():
    stream = StreamFactory()
    group = QuestionGroupFactory(stream=stream)
    QuestionFactory(group=group)
    anna, ben = cs_agent(stream), cs_agent(stream)
    start = timezone.now()
    seen = services.group_claim(actor=anna, group=group, now=start)
    anna_last_event = eventlog.head(stream.pk)
    # Anna's connection drops: her heartbeats stop. Ten seconds after her last one the sweep
    # runs every few seconds; thirty seconds of silence is longer than her lease.
    services.agent_heartbeat(actor=anna, now=start + timedelta(seconds=5))
    silence_over = start + timedelta(seconds=35)
    services.claims_sweep(now=silence_over)
    ben_claim = services.group_claim(actor=ben, group=group, now=silence_over)
    services.group_answer(
        actor=ben, group=group, seen_version=ben_claim.version, text="M码", now=silence_over
    )

    missed = eventlog.read_after(stream.pk, anna_last_event, limit=100)
    with pytest.raises(services.GroupConflict) as refused:
        services.group_answer(
            actor=anna, group=group, seen_version=seen.version, text="L码", now=silence_over
        )

    assert [(event["op"], event["data"]["id"]) for event in missed] == [
        ("released", group.pk),
        ("claimed", group.pk),
        ("answered", group.pk),
    ]
    answered = missed[-1]["data"]
    assert (answered["status"], answered["reply"], answered["answered_by"]) == (
        "answered",
        "M码",
        str(ben),
    )
    assert refused.value.current == answered
    assert str(ben) in refused.value.messages[0]
    assert QuestionGroup.objects.get().reply == "M码"
