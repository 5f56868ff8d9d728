"""Planning: `rooms.services` (streams, crew, availability, calendar feeds, templates,
lineups) and the planning selectors, against the real PostgreSQL constraints."""

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import translation
from psycopg import errors as psycopg_errors

from rooms import lineup_import, readiness, schedule, selectors, services
from rooms.models import (
    CalendarFeed,
    CrewAssignment,
    CrewRole,
    LineupItem,
    ReadinessOverride,
    Role,
    Stream,
    StreamEvent,
    StreamStatus,
    Studio,
    User,
    WorkingHours,
)
from rooms.tokens import token_hash
from tests.factories import (
    ChannelFactory,
    CrewAssignmentFactory,
    LineupItemFactory,
    LineupSetItemFactory,
    StreamFactory,
    StreamTemplateFactory,
    StudioFactory,
    TemplateCrewSlotFactory,
    TimeOffFactory,
    UserFactory,
    WorkingHoursFactory,
)

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY, TUESDAY = 0, 1


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _at(day: int, hour: int, minute: int = 0, *, month: int = 12) -> datetime:
    """A wall-clock time in Shanghai (every studio's zone here), in December 2026 unless told.
    1 December 2026 is a Tuesday."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def _stream(start: datetime, hours: float = 3, **fields) -> Stream:
    return StreamFactory(planned_start=start, planned_end=start + timedelta(hours=hours), **fields)


def _log(stream: Stream) -> list[tuple[str, str]]:
    return list(StreamEvent.objects.filter(stream=stream).order_by("seq").values_list("type", "op"))


def _producer_of(studio: Studio) -> User:
    producer = UserFactory(roles=[Role.PRODUCER])
    studio.members.add(producer)
    return producer


def _names(stream: Stream) -> list[str]:
    return list(stream.lineup.order_by("position").values_list("name", flat=True))


def _bad_cells(error: services.LineupRowsInvalid) -> set[tuple[int, str]]:
    return {(row_error.row, row_error.column) for row_error in error.row_errors}


def _together(*calls: Callable[[], object]) -> list[object]:
    """Run each call in its own thread, so on its own database connection, released at the
    same moment; what each returned or raised, in the order given."""
    start = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            start.wait(timeout=10)
            outcomes[index] = call()
        except Exception as exc:
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


class _CheckTogetherBookInTurn:
    """Two threads, each with its own connection, whose clash checks both find the time
    free: each waits after its first check until the other has checked too. Then the second
    call waits for the first to finish before booking, so its booking meets the first one in
    the exclusion constraint: the race the constraint exists for, made certain. (Booking at
    the very same instant can also end in a deadlock; see the tests below.)"""

    def __init__(self, check: Callable[..., list]):
        self.check = check
        self.checked = threading.Barrier(2)
        self.first_done = threading.Event()
        self.local = threading.local()

    def __call__(self, **kwargs) -> list:
        found = self.check(**kwargs)
        if not getattr(self.local, "checked", False):
            self.local.checked = True
            self.checked.wait(timeout=10)
            if getattr(self.local, "second", False):
                self.first_done.wait(timeout=10)
        return found

    def run(self, first: Callable[[], object], second: Callable[[], object]) -> list[object]:
        def run_first() -> object:
            try:
                return first()
            finally:
                self.first_done.set()

        def run_second() -> object:
            self.local.second = True
            return second()

        return _together(run_first, run_second)


def _free_at_first(check: Callable[..., list]) -> Callable[..., list]:
    """A clash check whose first answer is "free": it ran before a concurrent booking was
    committed. Later checks (the service's re-check) see the database as it is."""
    calls = []

    def check_once_blind(**kwargs) -> list:
        calls.append(kwargs)
        return [] if len(calls) == 1 else check(**kwargs)

    return check_once_blind


def _deadlocked_once(save: Callable) -> Callable:
    """A model's save that first fails as PostgreSQL fails one of two conflicting inserts
    whose exclusion checks wait for each other: a deadlock error, not a violation."""
    calls = []

    def save_after_a_deadlock(self, *args, **kwargs):
        calls.append(self)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from psycopg_errors.DeadlockDetected(
                "deadlock detected"
            )
        return save(self, *args, **kwargs)

    return save_after_a_deadlock


# --- Studio bookings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "london"),
    [(12, "Tue 1 Dec 12:00–15:00 (Europe/London)"), (7, "Wed 1 Jul 13:00–16:00 (Europe/London)")],
)
def test_a_stream_planned_at_8pm_in_shanghai_is_stored_at_noon_utc(month, london):
    start = datetime(2026, month, 1, 20, 0, tzinfo=SHANGHAI)

    stream = services.stream_create(
        actor=None,
        channel=ChannelFactory(),
        studio=StudioFactory(time_zone="Asia/Shanghai"),
        title="Winter coats",
        planned_start=start,
        planned_end=start + timedelta(hours=3),
    )

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_char(planned_start AT TIME ZONE 'UTC', 'HH24:MI') "
            f"FROM {Stream._meta.db_table} WHERE id = %s",
            [stream.pk],
        )
        (stored_utc,) = cursor.fetchone()
    stored = Stream.objects.get(pk=stream.pk)
    assert stored_utc == "12:00"
    assert stored.planned_start == datetime(2026, month, 1, 12, 0, tzinfo=UTC)
    assert schedule.window_text(stored.planned_start, stored.planned_end, "Europe/London") == london


def test_planning_a_stream_books_its_studio_from_set_up_to_teardown_and_logs_it():
    start = _at(1, 20)

    stream = services.stream_create(
        actor=None,
        channel=ChannelFactory(),
        studio=StudioFactory(),
        title="Winter coats",
        planned_start=start,
        planned_end=start + timedelta(hours=3),
        setup_before=timedelta(minutes=45),
        teardown_after=timedelta(minutes=20),
    )

    stream.refresh_from_db()
    assert (stream.booked.lower, stream.booked.upper) == (_at(1, 19, 15), _at(1, 23, 20))
    assert _log(stream) == [("stream", "planned")]


def test_a_stream_overlapping_another_in_its_studio_is_refused_naming_it():
    studio = StudioFactory()
    first = _stream(_at(1, 18), hours=2, studio=studio)  # held until 20:15

    with pytest.raises(services.BookingClash) as raised:
        services.stream_create(
            actor=None,
            channel=ChannelFactory(),
            studio=studio,
            title="Late show",
            planned_start=_at(1, 20, 30),  # held from 20:00
            planned_end=_at(1, 23),
        )

    assert [(c.kind, c.stream_id) for c in raised.value.clashes] == [("studio", first.pk)]
    assert first.title in raised.value.messages[0]
    assert Stream.objects.filter(studio=studio).count() == 1


def test_streams_whose_teardown_and_set_up_meet_exactly_share_a_studio():
    studio = StudioFactory()
    _stream(_at(1, 18), hours=2, studio=studio)  # held until 20:15

    later = services.stream_create(
        actor=None,
        channel=ChannelFactory(),
        studio=studio,
        title="Late show",
        planned_start=_at(1, 20, 45),  # held from 20:15
        planned_end=_at(1, 23),
    )

    assert Stream.objects.filter(studio=studio).count() == 2
    assert later.booked.lower == _at(1, 20, 15)


def test_the_database_refuses_overlapping_streams_in_one_studio_whatever_path_writes_them():
    studio = StudioFactory()
    _stream(_at(1, 20), studio=studio)

    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        _stream(_at(1, 22), studio=studio)

    assert isinstance(raised.value.__cause__, psycopg_errors.ExclusionViolation)
    assert raised.value.__cause__.diag.constraint_name == "stream_studio_not_double_booked"


@pytest.mark.django_db(transaction=True)
def test_two_producers_booking_one_studio_at_once_get_one_stream_and_a_clash_naming_it(
    monkeypatch,
):
    race = _CheckTogetherBookInTurn(selectors.studio_clashes)
    monkeypatch.setattr(selectors, "studio_clashes", race)
    studio, channel = StudioFactory(), ChannelFactory()

    def plan(title: str, start: datetime) -> Callable[[], object]:
        return lambda: services.stream_create(
            actor=None,
            channel=channel,
            studio=studio,
            title=title,
            planned_start=start,
            planned_end=start + timedelta(hours=3),
        )

    planned, refused = race.run(plan("Early", _at(1, 19)), plan("Late", _at(1, 21)))

    assert isinstance(planned, Stream), planned
    assert isinstance(refused, services.BookingClash), refused
    assert [(c.kind, c.stream_id) for c in refused.clashes] == [("studio", planned.pk)]
    assert isinstance(refused.__cause__.__cause__, psycopg_errors.ExclusionViolation)
    assert list(Stream.objects.filter(studio=studio).values_list("pk", flat=True)) == [planned.pk]


# --- Crew bookings -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_one_host_assigned_to_two_overlapping_streams_at_once_gets_one_and_a_clash_naming_it(
    monkeypatch,
):
    race = _CheckTogetherBookInTurn(selectors.crew_clashes)
    monkeypatch.setattr(selectors, "crew_clashes", race)
    host = UserFactory()
    first = _stream(_at(1, 20), studio=StudioFactory())
    second = _stream(_at(1, 21), studio=StudioFactory())

    def assign(stream: Stream) -> Callable[[], object]:
        return lambda: services.crew_assign(
            actor=None, stream=stream, person=host, role=CrewRole.HOST
        )

    assigned, refused = race.run(assign(first), assign(second))

    assert isinstance(assigned, CrewAssignment), assigned
    assert isinstance(refused, services.BookingClash), refused
    assert [(c.kind, c.who, c.stream_id) for c in refused.clashes] == [
        ("person", str(host), first.pk)
    ]
    assert first.title in refused.messages[0]
    assert isinstance(refused.__cause__.__cause__, psycopg_errors.ExclusionViolation)
    assert list(CrewAssignment.objects.filter(person=host).values_list("stream", flat=True)) == [
        first.pk
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(5))
def test_one_host_booked_twice_at_the_very_same_instant_gets_one_booking_and_one_clash(
    monkeypatch, round_
):
    """Both checks find the time free and both inserts go in together: whether PostgreSQL
    answers the loser with an exclusion violation or a deadlock, it gets a named clash."""
    race = _CheckTogetherBookInTurn(selectors.crew_clashes)
    monkeypatch.setattr(selectors, "crew_clashes", race)
    host = UserFactory()
    streams = [
        _stream(_at(1, 20), studio=StudioFactory()),
        _stream(_at(1, 21), studio=StudioFactory()),
    ]

    outcomes = _together(
        *(
            lambda stream=stream: services.crew_assign(
                actor=None, stream=stream, person=host, role=CrewRole.HOST
            )
            for stream in streams
        )
    )

    assigned = [o for o in outcomes if isinstance(o, CrewAssignment)]
    refused = [o for o in outcomes if isinstance(o, services.BookingClash)]
    assert len(assigned) == 1, outcomes
    assert len(refused) == 1, outcomes
    assert [c.stream_id for c in refused[0].clashes] == [assigned[0].stream_id]
    assert CrewAssignment.objects.filter(person=host).count() == 1


def test_a_booking_that_deadlocks_with_a_simultaneous_one_is_refused_as_a_clash(monkeypatch):
    """PostgreSQL checks an exclusion constraint after adding the index entry, so two
    conflicting bookings inserted at the same instant can each wait for the other; it then
    fails one of them with a deadlock error (40P01), not an exclusion violation. Two threads
    booking one host, or one studio, at once met this in about one run in fifteen; here the
    first insert is answered that way for certain, once the booking that won is committed."""
    host = UserFactory()
    winner = _stream(_at(1, 21), studio=StudioFactory())
    CrewAssignmentFactory(stream=winner, person=host, role=CrewRole.HOST)
    stream = _stream(_at(1, 20), studio=StudioFactory())
    monkeypatch.setattr(selectors, "crew_clashes", _free_at_first(selectors.crew_clashes))
    monkeypatch.setattr(CrewAssignment, "save", _deadlocked_once(CrewAssignment.save))

    with pytest.raises(services.BookingClash) as raised:
        services.crew_assign(actor=None, stream=stream, person=host, role=CrewRole.HOST)

    assert [c.stream_id for c in raised.value.clashes] == [winner.pk]
    assert not stream.crew.exists()


def test_a_clash_the_check_missed_is_still_refused_by_the_constraint_and_named(monkeypatch):
    host = UserFactory()
    winner = _stream(_at(1, 21), studio=StudioFactory())
    CrewAssignmentFactory(stream=winner, person=host, role=CrewRole.HOST)
    stream = _stream(_at(1, 20), studio=StudioFactory())
    monkeypatch.setattr(selectors, "crew_clashes", _free_at_first(selectors.crew_clashes))

    with pytest.raises(services.BookingClash) as raised:
        services.crew_assign(actor=None, stream=stream, person=host, role=CrewRole.HOST)

    assert [c.stream_id for c in raised.value.clashes] == [winner.pk]
    assert not stream.crew.exists()


def test_the_database_refuses_one_person_on_two_overlapping_streams_whatever_path_writes_them():
    host = UserFactory()
    CrewAssignmentFactory(stream=_stream(_at(1, 20)), person=host)

    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        CrewAssignmentFactory(stream=_stream(_at(1, 22)), person=host)

    assert isinstance(raised.value.__cause__, psycopg_errors.ExclusionViolation)
    assert raised.value.__cause__.diag.constraint_name == "crew_person_not_double_booked"


def test_the_database_lets_one_person_take_two_roles_on_one_stream():
    host, stream = UserFactory(), _stream(_at(1, 20))
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)

    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.CO_HOST)

    assert CrewAssignment.objects.filter(person=host, stream=stream).count() == 2


def test_a_hosts_hour_long_call_clashes_with_a_stream_ending_half_an_hour_before():
    host = UserFactory()
    earlier = _stream(_at(1, 18), hours=1.5, studio=StudioFactory())  # ends 19:30
    services.crew_assign(actor=None, stream=earlier, person=host, role=CrewRole.HOST)
    later = _stream(_at(1, 20), studio=StudioFactory())  # the host is called at 19:00

    with pytest.raises(services.BookingClash) as raised:
        services.crew_assign(actor=None, stream=later, person=host, role=CrewRole.HOST)

    assert [(c.kind, c.who, c.stream_id) for c in raised.value.clashes] == [
        ("person", str(host), earlier.pk)
    ]
    assert str(host) in raised.value.messages[0]
    assert not CrewAssignment.objects.filter(stream=later).exists()


def test_without_the_call_time_the_same_host_fits_after_the_earlier_stream():
    host = UserFactory()
    earlier = _stream(_at(1, 18), hours=1.5, studio=StudioFactory())  # held until 19:45
    services.crew_assign(actor=None, stream=earlier, person=host, role=CrewRole.HOST)
    later = _stream(_at(1, 20), studio=StudioFactory())

    assignment = services.crew_assign(
        actor=None, stream=later, person=host, role=CrewRole.HOST, buffer_before=timedelta(0)
    )

    assert assignment.booked.lower == _at(1, 20)


def test_one_person_may_take_two_roles_on_the_same_stream():
    person, stream = UserFactory(), _stream(_at(1, 20))
    services.crew_assign(actor=None, stream=stream, person=person, role=CrewRole.HOST)

    services.crew_assign(actor=None, stream=stream, person=person, role=CrewRole.ROOM_OPERATOR)

    assert sorted(stream.crew.filter(person=person).values_list("role", flat=True)) == [
        CrewRole.HOST,
        CrewRole.ROOM_OPERATOR,
    ]


def test_assigning_is_held_for_the_roles_call_time_and_logged_once_when_repeated():
    producer = UserFactory(roles=[Role.PRODUCER])
    host = UserFactory()
    stream = _stream(_at(1, 20), studio=StudioFactory(members=[producer, host]))

    first = services.crew_assign(actor=producer, stream=stream, person=host, role=CrewRole.HOST)
    again = services.crew_assign(actor=producer, stream=stream, person=host, role=CrewRole.HOST)

    assert again.pk == first.pk
    assert (first.booked.lower, first.booked.upper) == (_at(1, 19), _at(1, 23, 15))
    assert first.assigned_by == producer
    assert _log(stream) == [("crew", "assigned")]


def test_only_a_producer_of_the_studio_assigns_its_crew():
    outsider = UserFactory(roles=[Role.PRODUCER])
    stream = _stream(_at(1, 20))

    with pytest.raises(PermissionDenied):
        services.crew_assign(actor=outsider, stream=stream, person=UserFactory(), role="host")

    assert not stream.crew.exists()


def test_an_ended_streams_crew_cannot_change():
    stream = _stream(_at(1, 20), status=StreamStatus.ENDED)

    with pytest.raises(ValidationError):
        services.crew_assign(actor=None, stream=stream, person=UserFactory(), role="host")

    assert not stream.crew.exists()


def test_unassigning_frees_the_person_and_is_logged():
    host = UserFactory()
    stream = _stream(_at(1, 20))
    assignment = services.crew_assign(actor=None, stream=stream, person=host, role="host")

    services.crew_unassign(actor=None, assignment=assignment)
    elsewhere = services.crew_assign(
        actor=None, stream=_stream(_at(1, 21)), person=host, role="host"
    )

    assert not stream.crew.exists()
    assert list(CrewAssignment.objects.filter(person=host).values_list("pk", flat=True)) == [
        elsewhere.pk
    ]
    assert _log(stream) == [("crew", "assigned"), ("crew", "unassigned")]


# --- Availability ------------------------------------------------------------------------


def test_a_person_on_time_off_is_assigned_only_once_the_warning_is_accepted():
    host = UserFactory()
    TimeOffFactory(person=host, first_day=date(2026, 12, 1), reason="wedding")
    stream = _stream(_at(1, 20))

    with pytest.raises(services.AvailabilityWarning) as raised:
        services.crew_assign(actor=None, stream=stream, person=host, role=CrewRole.HOST)
    unassigned = stream.crew.count()
    assignment = services.crew_assign(
        actor=None, stream=stream, person=host, role=CrewRole.HOST, accept_availability=True
    )

    assert unassigned == 0
    assert raised.value.problems == [f"{host} is off Tue 1 Dec – Tue 1 Dec."]
    assignment.refresh_from_db()
    assert assignment.availability_note == raised.value.problems[0]


def test_a_stream_outside_a_persons_working_hours_warns():
    operator = UserFactory()
    WorkingHoursFactory(person=operator, weekday=TUESDAY, starts=time(9), ends=time(18))
    stream = _stream(_at(1, 20))

    with pytest.raises(services.AvailabilityWarning) as raised:
        services.crew_assign(actor=None, stream=stream, person=operator, role="room_operator")

    assert raised.value.problems == [
        f"{operator} does not usually work Tue 1 Dec 19:30–23:15 (Asia/Shanghai)."
    ]
    assert not stream.crew.exists()


def test_a_late_shift_past_midnight_covers_a_stream_ending_after_midnight():
    host = UserFactory()
    WorkingHoursFactory(person=host, weekday=MONDAY, starts=time(20), ends=time(2))
    stream = _stream(_at(30, 21, 30, month=11), hours=3.5)  # Monday 21:30–01:00, called 20:30

    assignment = services.crew_assign(actor=None, stream=stream, person=host, role="host")

    assert assignment.availability_note == ""


def test_a_stream_running_past_the_end_of_a_late_shift_warns():
    host = UserFactory()
    WorkingHoursFactory(person=host, weekday=MONDAY, starts=time(20), ends=time(2))
    stream = _stream(_at(30, 21, 30, month=11), hours=4.5)  # until 02:00, held to 02:15

    with pytest.raises(services.AvailabilityWarning):
        services.crew_assign(actor=None, stream=stream, person=host, role="host")

    assert not stream.crew.exists()


def test_a_person_with_no_working_hours_is_assigned_at_any_hour_without_a_warning():
    host = UserFactory()
    stream = _stream(_at(1, 3))

    assignment = services.crew_assign(actor=None, stream=stream, person=host, role="host")

    assert assignment.availability_note == ""


def test_setting_working_hours_replaces_the_old_ones():
    person = UserFactory()
    WorkingHoursFactory(person=person, weekday=MONDAY)

    services.working_hours_set(
        actor=person,
        person=person,
        hours=[schedule.Hours(TUESDAY, time(20), time(2)), schedule.Hours(4, time(20), time(2))],
    )

    assert list(
        WorkingHours.objects.filter(person=person).values_list("weekday", "starts", "ends")
    ) == [(TUESDAY, time(20), time(2)), (4, time(20), time(2))]


def test_time_off_ending_before_it_starts_is_refused():
    person = UserFactory()

    with pytest.raises(ValidationError):
        services.time_off_add(
            actor=person, person=person, first_day=date(2026, 12, 2), last_day=date(2026, 12, 1)
        )

    assert not person.time_off.exists()


# --- Rescheduling ------------------------------------------------------------------------


def test_moving_a_stream_moves_the_studio_and_every_crew_booking_and_logs_the_new_plan():
    stream = _stream(_at(1, 20))
    host = services.crew_assign(actor=None, stream=stream, person=UserFactory(), role="host")
    operator = services.crew_assign(
        actor=None, stream=stream, person=UserFactory(), role="room_operator"
    )

    services.stream_update(
        actor=None, stream=stream, planned_start=_at(2, 19), planned_end=_at(2, 22)
    )

    stream.refresh_from_db()
    host.refresh_from_db()
    operator.refresh_from_db()
    assert (stream.booked.lower, stream.booked.upper) == (_at(2, 18, 30), _at(2, 22, 15))
    assert (host.booked.lower, host.booked.upper) == (_at(2, 18), _at(2, 22, 15))
    assert (operator.booked.lower, operator.booked.upper) == (_at(2, 18, 30), _at(2, 22, 15))
    last = StreamEvent.objects.filter(stream=stream).latest("seq")
    assert (last.type, last.op) == ("stream", "replanned")
    assert datetime.fromisoformat(last.data["planned_start"]) == _at(2, 19)


def test_a_move_clashing_with_a_crew_members_other_stream_is_refused_and_changes_nothing():
    host = UserFactory()
    stream = _stream(_at(1, 20), studio=StudioFactory())
    assignment = services.crew_assign(actor=None, stream=stream, person=host, role="host")
    elsewhere = _stream(_at(2, 20), studio=StudioFactory())
    services.crew_assign(actor=None, stream=elsewhere, person=host, role="host")

    with pytest.raises(services.BookingClash) as raised:
        services.stream_update(
            actor=None, stream=stream, planned_start=_at(2, 20), planned_end=_at(2, 23)
        )

    assert [(c.kind, c.who, c.stream_id) for c in raised.value.clashes] == [
        ("person", str(host), elsewhere.pk)
    ]
    assert str(host) in raised.value.messages[0]
    stream.refresh_from_db()
    assignment.refresh_from_db()
    assert (stream.planned_start, stream.booked.lower) == (_at(1, 20), _at(1, 19, 30))
    assert assignment.booked.lower == _at(1, 19)
    assert _log(stream) == [("crew", "assigned")]


def test_a_move_into_a_busy_studio_is_refused_naming_the_stream_there():
    busy = StudioFactory()
    there = _stream(_at(1, 20), studio=busy)
    stream = _stream(_at(1, 20), studio=StudioFactory())

    with pytest.raises(services.BookingClash) as raised:
        services.stream_update(actor=None, stream=stream, studio=busy)

    assert [(c.kind, c.stream_id) for c in raised.value.clashes] == [("studio", there.pk)]
    stream.refresh_from_db()
    assert stream.studio_id != busy.pk


def test_a_live_stream_can_be_renamed_but_not_moved():
    stream = _stream(_at(1, 20), status=StreamStatus.LIVE)

    services.stream_update(actor=None, stream=stream, title="Renamed")
    with pytest.raises(ValidationError):
        services.stream_update(actor=None, stream=stream, planned_end=_at(1, 23, 30))

    stream.refresh_from_db()
    assert (stream.title, stream.planned_end) == ("Renamed", _at(1, 23))


# --- Going live --------------------------------------------------------------------------


@pytest.fixture
def unready_stream() -> Stream:
    """A scheduled stream with no room operator and a product without a live price."""
    stream = _stream(_at(1, 20), studio=StudioFactory())
    CrewAssignmentFactory(stream=stream, role=CrewRole.HOST)
    LineupItemFactory(stream=stream, live_price=None)
    return stream


def test_a_person_cannot_take_a_stream_live_with_the_checklist_incomplete(unready_stream):
    producer = _producer_of(unready_stream.studio)

    with pytest.raises(ValidationError) as raised:
        services.stream_transition(actor=producer, stream=unready_stream, to=StreamStatus.LIVE)

    refusal = " ".join(raised.value.messages)
    assert "Room operator assigned" in refusal
    assert "Every product has a live price" in refusal
    unready_stream.refresh_from_db()
    assert unready_stream.status == StreamStatus.SCHEDULED
    assert _log(unready_stream) == []


def test_after_an_override_with_a_reason_a_person_takes_the_stream_live(unready_stream):
    producer = _producer_of(unready_stream.studio)

    override = services.readiness_override(
        actor=producer, stream=unready_stream, reason="Prices go on the card tonight"
    )
    live = services.stream_transition(actor=producer, stream=unready_stream, to=StreamStatus.LIVE)

    assert live.status == StreamStatus.LIVE
    assert {"Room operator assigned", "Every product has a live price"} <= {
        entry["label"] for entry in override.missing
    }
    assert override.by == producer
    assert _log(unready_stream) == [
        ("stream", "readiness_overridden"),
        ("stream", "status_changed"),
    ]


def test_an_override_needs_a_reason(unready_stream):
    producer = _producer_of(unready_stream.studio)

    with pytest.raises(ValidationError):
        services.readiness_override(actor=producer, stream=unready_stream, reason="  ok ")

    assert not ReadinessOverride.objects.filter(stream=unready_stream).exists()


def test_the_platform_saying_a_stream_is_live_is_recorded_whatever_is_missing(unready_stream):
    live = services.stream_transition(actor=None, stream=unready_stream, to=StreamStatus.LIVE)

    assert live.status == StreamStatus.LIVE
    assert live.actual_start is not None


def test_a_person_takes_a_ready_stream_live_without_an_override(monkeypatch):
    monkeypatch.setattr(
        readiness, "_checks", [(10, readiness.crew_filled), (20, readiness.lineup_complete)]
    )
    stream = _stream(_at(1, 20), studio=StudioFactory(), required_roles=[CrewRole.HOST])
    CrewAssignmentFactory(stream=stream, role=CrewRole.HOST)
    LineupItemFactory(stream=stream)
    producer = _producer_of(stream.studio)

    live = services.stream_transition(actor=producer, stream=stream, to=StreamStatus.LIVE)

    assert live.status == StreamStatus.LIVE


# --- Calendar feeds ----------------------------------------------------------------------


def test_issuing_a_calendar_feed_revokes_the_persons_earlier_one_only():
    person, colleague = UserFactory(), UserFactory()
    services.calendar_feed_issue(actor=colleague, person=colleague)
    first = services.calendar_feed_issue(actor=person, person=person)

    second = services.calendar_feed_issue(actor=person, person=person)

    feeds = CalendarFeed.objects.filter(person=person).order_by("pk")
    assert [(feed.key_hash, feed.revoked_at is None) for feed in feeds] == [
        (token_hash(first), False),
        (token_hash(second), True),
    ]
    assert CalendarFeed.objects.get(person=colleague).revoked_at is None


def test_nobody_else_issues_a_persons_calendar_feed():
    person = UserFactory()

    with pytest.raises(PermissionDenied):
        services.calendar_feed_issue(actor=UserFactory(roles=[Role.PRODUCER]), person=person)

    assert not CalendarFeed.objects.filter(person=person).exists()


# --- Templates and recurrence ------------------------------------------------------------


@pytest.fixture
def template():
    """A 20:00 three-hour show with a usual host, a room operator to find, and a lineup set."""
    template = StreamTemplateFactory(studio=StudioFactory(time_zone="Asia/Shanghai"))
    host = TemplateCrewSlotFactory(template=template, role=CrewRole.HOST).person
    template.studio.members.add(host)
    TemplateCrewSlotFactory(template=template, role=CrewRole.ROOM_OPERATOR, person=None)
    first = LineupSetItemFactory(name="Thermal mug")
    LineupSetItemFactory(lineup_set=first.lineup_set, name="Oolong tea")
    template.lineup_set = first.lineup_set
    template.save()
    return template


def _three_evenings(template) -> list[datetime]:
    return [
        start
        for start, _end in schedule.occurrences(
            rule="FREQ=DAILY;COUNT=3",
            first_day=date(2026, 12, 1),
            start_time=template.start_time,
            duration=template.duration,
            time_zone=template.studio.time_zone,
        )
    ]


def test_the_preview_shows_a_studio_clash_only_for_the_occurrence_that_hits_a_stream(template):
    existing = _stream(_at(2, 21), hours=1, studio=template.studio)

    preview = selectors.template_preview(template=template, starts=_three_evenings(template))

    assert [o.starts for o in preview] == [_at(1, 20), _at(2, 20), _at(3, 20)]
    assert [[(c.kind, c.stream_id) for c in o.clashes] for o in preview] == [
        [],
        [("studio", existing.pk)],
        [],
    ]


def test_the_preview_shows_the_usual_host_booked_elsewhere(template):
    host = template.slots.get(role=CrewRole.HOST).person
    elsewhere = _stream(_at(3, 18), hours=1.5, studio=StudioFactory())  # host held to 19:45
    services.crew_assign(actor=None, stream=elsewhere, person=host, role="host")

    preview = selectors.template_preview(template=template, starts=_three_evenings(template))

    assert [[(c.kind, c.who, c.stream_id) for c in o.clashes] for o in preview] == [
        [],
        [],
        [("person", str(host), elsewhere.pk)],
    ]


def test_the_preview_shows_occurrences_that_overlap_each_other(template):
    starts = [_at(1, 20), _at(1, 22)]

    preview = selectors.template_preview(template=template, starts=starts)

    assert [[c.kind for c in o.clashes] for o in preview] == [["studio"], ["studio"]]


def test_streams_from_a_template_with_one_clashing_occurrence_saves_nothing(template):
    existing = _stream(_at(2, 21), hours=1, studio=template.studio)
    producer = _producer_of(template.studio)

    with pytest.raises(services.BookingClash) as raised:
        services.streams_from_template(
            actor=producer, template=template, starts=_three_evenings(template)
        )

    assert [c.stream_id for c in raised.value.clashes] == [existing.pk]
    assert not Stream.objects.filter(template=template).exists()
    assert not CrewAssignment.objects.exists()
    assert not LineupItem.objects.exists()
    assert not StreamEvent.objects.exists()


def test_streams_from_a_template_get_the_usual_crew_and_a_copy_of_the_lineup(template):
    producer = _producer_of(template.studio)
    host = template.slots.get(role=CrewRole.HOST).person

    created = services.streams_from_template(
        actor=producer, template=template, starts=_three_evenings(template)
    )

    assert [stream.planned_start for stream in created] == [_at(1, 20), _at(2, 20), _at(3, 20)]
    assert {stream.planned_end - stream.planned_start for stream in created} == {timedelta(hours=3)}
    assert {stream.title for stream in created} == {template.title}
    each = [
        (
            stream.template_id,
            stream.required_roles,
            list(stream.crew.values_list("person", "role")),
            _names(stream),
        )
        for stream in Stream.objects.filter(pk__in=[s.pk for s in created]).order_by("pk")
    ]
    expected = (
        template.pk,
        [CrewRole.HOST, CrewRole.ROOM_OPERATOR],  # every slot's role; the operator still to find
        [(host.pk, CrewRole.HOST)],
        ["Thermal mug", "Oolong tea"],
    )
    assert each == [expected] * 3


def test_the_preview_warns_about_availability_as_the_assignment_it_makes_will(template):
    host = template.slots.get(role=CrewRole.HOST).person
    WorkingHoursFactory(person=host, weekday=TUESDAY, starts=time(20), ends=time(2))
    producer = _producer_of(template.studio)

    preview = selectors.template_preview(template=template, starts=[_at(1, 20)])
    [stream] = services.streams_from_template(
        actor=producer, template=template, starts=[_at(1, 20)]
    )

    note = stream.crew.get(person=host).availability_note  # called at 19:00, before the shift
    assert note != ""
    assert preview[0].warnings == [note]


def test_the_preview_names_a_person_filling_two_slots_once_per_clash(template):
    host = template.slots.get(role=CrewRole.HOST).person
    TemplateCrewSlotFactory(template=template, role=CrewRole.CO_HOST, person=host)
    elsewhere = _stream(_at(1, 18), hours=1.5, studio=StudioFactory())
    services.crew_assign(actor=None, stream=elsewhere, person=host, role="host")

    preview = selectors.template_preview(template=template, starts=[_at(1, 20)])

    assert [(c.kind, c.stream_id) for c in preview[0].clashes] == [("person", elsewhere.pk)]


def test_saving_a_template_replaces_its_crew_slots(template):
    producer = _producer_of(template.studio)
    operator = UserFactory()
    template.studio.members.add(operator)

    services.template_save(
        actor=producer,
        template=template,
        studio=template.studio,
        channel=template.channel,
        name=template.name,
        title="New title",
        start_time=time(19, 30),
        duration=timedelta(hours=2),
        slots=[(CrewRole.ROOM_OPERATOR, operator)],
    )

    template.refresh_from_db()
    assert (template.title, template.start_time) == ("New title", time(19, 30))
    assert list(template.slots.values_list("role", "person")) == [
        (CrewRole.ROOM_OPERATOR, operator.pk)
    ]


# --- Lineup ------------------------------------------------------------------------------


def _lineup_csv(*lines: str) -> lineup_import.ParsedLineup:
    content = "\n".join(["Link number,SKU,Product,Type,Regular price,Live price,Stock", *lines])
    return lineup_import.parse(filename="lineup.csv", content=content.encode())


def test_adding_a_product_puts_it_last_with_the_next_link_number_and_logs_it():
    stream = _stream(_at(1, 20))
    LineupItemFactory(stream=stream, position=1, link_number=1)
    LineupItemFactory(stream=stream, position=2, link_number=5)

    item = services.lineup_item_add(
        actor=None,
        stream=stream,
        sku="MUG-01",
        name="Thermal mug",
        kind="traffic",
        regular_price=Decimal("59"),
    )

    assert (item.position, item.link_number) == (3, 6)
    assert _log(stream) == [("lineup", "changed")]


def test_a_link_number_already_in_the_lineup_is_refused():
    stream = _stream(_at(1, 20))
    LineupItemFactory(stream=stream, link_number=7)

    with pytest.raises(ValidationError) as raised:
        services.lineup_item_add(
            actor=None,
            stream=stream,
            link_number=7,
            sku="MUG-01",
            name="Thermal mug",
            kind="traffic",
            regular_price=Decimal("59"),
        )

    assert list(raised.value.message_dict) == ["link_number"]
    assert stream.lineup.count() == 1


def test_reordering_puts_the_lineup_in_the_new_order_with_unique_positions():
    stream = _stream(_at(1, 20))
    a, b, c = (LineupItemFactory(stream=stream, position=n) for n in (1, 2, 3))

    services.lineup_reorder(actor=None, stream=stream, item_ids=[c.pk, a.pk, b.pk])

    with connection.cursor() as cursor:  # check the deferred unique constraints now
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert list(stream.lineup.order_by("position").values_list("pk", "position")) == [
        (c.pk, 1),
        (a.pk, 2),
        (b.pk, 3),
    ]
    assert _log(stream) == [("lineup", "changed")]


@pytest.mark.parametrize("keep", [[0, 1], [0, 1, 1, 2], [0, 1, 2, 2]])
def test_a_reorder_must_name_every_product_exactly_once(keep):
    stream = _stream(_at(1, 20))
    items = [LineupItemFactory(stream=stream, position=n) for n in (1, 2, 3)]

    with pytest.raises(ValidationError):
        services.lineup_reorder(
            actor=None, stream=stream, item_ids=[items[index].pk for index in keep]
        )

    assert list(stream.lineup.order_by("position").values_list("pk", flat=True)) == [
        item.pk for item in items
    ]


def test_removing_a_product_closes_the_gap_in_positions():
    stream = _stream(_at(1, 20))
    a, b, c = (LineupItemFactory(stream=stream, position=n) for n in (1, 2, 3))

    services.lineup_item_remove(actor=None, item=b)

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert list(stream.lineup.order_by("position").values_list("pk", "position")) == [
        (a.pk, 1),
        (c.pk, 2),
    ]


def test_updating_a_product_changes_it_and_logs_it():
    stream = _stream(_at(1, 20))
    item = LineupItemFactory(stream=stream, live_price=None)

    services.lineup_item_update(actor=None, item=item, live_price=Decimal("39.90"), stock=20)

    item.refresh_from_db()
    assert (item.live_price, item.stock) == (Decimal("39.90"), 20)
    assert _log(stream) == [("lineup", "changed")]


def test_an_imported_sheet_replaces_the_lineup_in_its_order():
    stream = _stream(_at(1, 20))
    LineupItemFactory(stream=stream, name="Old product")
    parsed = _lineup_csv(
        "3,TEA-07,Oolong tea,hero,129,89,50", "1,MUG-01,Thermal mug,traffic,59,9.9,200"
    )

    services.lineup_replace(
        actor=None, stream=stream, rows=parsed.rows, row_numbers=parsed.row_numbers
    )

    assert list(
        stream.lineup.order_by("position").values_list("position", "link_number", "name")
    ) == [
        (1, 3, "Oolong tea"),
        (2, 1, "Thermal mug"),
    ]
    assert _log(stream) == [("lineup", "changed")]


def test_a_sheet_failing_validation_names_its_rows_and_leaves_the_lineup_as_it_was():
    stream = _stream(_at(1, 20))
    LineupItemFactory(stream=stream, name="Thermal mug")
    LineupItemFactory(stream=stream, name="Oolong tea")
    parsed = _lineup_csv("1,PAN-02,Frying pan,profit,199,149,30", "2,KNF-09,Knife,hero,99,79,-5")

    with pytest.raises(services.LineupRowsInvalid) as raised:
        services.lineup_replace(
            actor=None, stream=stream, rows=parsed.rows, row_numbers=parsed.row_numbers
        )

    assert _bad_cells(raised.value) == {(3, "stock")}
    assert _names(stream) == ["Thermal mug", "Oolong tea"]
    assert _log(stream) == []


def test_a_sheet_repeating_a_link_number_names_both_rows():
    stream = _stream(_at(1, 20))
    LineupItemFactory(stream=stream, name="Thermal mug")
    parsed = _lineup_csv(
        "7,PAN-02,Frying pan,profit,199,149,30",
        "8,KNF-09,Knife,hero,99,79,5",
        "7,TEA-07,Oolong tea,hero,129,89,50",
    )

    with pytest.raises(services.LineupRowsInvalid) as raised:
        services.lineup_replace(
            actor=None, stream=stream, rows=parsed.rows, row_numbers=parsed.row_numbers
        )

    assert raised.value.messages == ["Row 4, link number: #7 is already used on row 2."]
    assert _names(stream) == ["Thermal mug"]


def test_a_negative_price_in_a_sheet_is_a_bad_cell_not_a_database_error():
    stream = _stream(_at(1, 20))
    LineupItemFactory(stream=stream, name="Thermal mug")
    parsed = _lineup_csv("1,PAN-02,Frying pan,profit,-199,149,30")

    with pytest.raises(services.LineupRowsInvalid) as raised:
        services.lineup_replace(
            actor=None, stream=stream, rows=parsed.rows, row_numbers=parsed.row_numbers
        )

    assert _bad_cells(raised.value) == {(2, "regular price")}
    assert _names(stream) == ["Thermal mug"]


def test_a_negative_live_price_for_one_product_is_a_validation_error():
    item = LineupItemFactory(stream=_stream(_at(1, 20)))

    with pytest.raises(ValidationError) as raised:
        services.lineup_item_update(actor=None, item=item, live_price=Decimal("-1"))

    assert list(raised.value.message_dict) == ["live_price"]


def test_a_lineup_kept_as_a_set_is_copied_onto_another_stream():
    producer = UserFactory(roles=[Role.PRODUCER])
    source = _stream(_at(1, 20), studio=StudioFactory(members=[producer]))
    LineupItemFactory(stream=source, name="Thermal mug", link_number=3)
    LineupItemFactory(stream=source, name="Oolong tea", link_number=1)
    target = _stream(_at(2, 20))
    LineupItemFactory(stream=target, name="Old product")

    lineup_set = services.lineup_set_from_stream(actor=producer, stream=source, name="Winter")
    services.lineup_set_apply(actor=None, stream=target, lineup_set=lineup_set)

    assert list(target.lineup.order_by("position").values_list("link_number", "name")) == [
        (3, "Thermal mug"),
        (1, "Oolong tea"),
    ]


def test_an_ended_streams_lineup_cannot_change():
    stream = _stream(_at(1, 20), status=StreamStatus.ENDED)
    item = LineupItemFactory(stream=stream, stock=5)

    with pytest.raises(ValidationError):
        services.lineup_item_update(actor=None, item=item, stock=50)

    item.refresh_from_db()
    assert item.stock == 5


# --- The stream's log --------------------------------------------------------------------


def test_planning_changes_append_to_the_streams_log_in_order_without_gaps():
    stream = _stream(_at(1, 20))

    services.crew_assign(actor=None, stream=stream, person=UserFactory(), role="host")
    services.stream_update(actor=None, stream=stream, title="Winter coats, part 2")
    item = services.lineup_item_add(
        actor=None,
        stream=stream,
        sku="MUG-01",
        name="Thermal mug",
        kind="traffic",
        regular_price=Decimal("59"),
    )
    services.lineup_item_update(actor=None, item=item, stock=10)

    events = list(StreamEvent.objects.filter(stream=stream).order_by("seq"))
    assert [(e.seq, e.type, e.op) for e in events] == [
        (1, "crew", "assigned"),
        (2, "stream", "replanned"),
        (3, "lineup", "changed"),
        (4, "lineup", "changed"),
    ]
    assert events[1].data["title"] == "Winter coats, part 2"


def test_an_override_covers_what_was_missing_then_and_not_what_goes_missing_later():
    producer = UserFactory(roles=[Role.PRODUCER])
    host = UserFactory()
    stream = _stream(
        _at(1, 20), studio=StudioFactory(members=[producer, host]), required_roles=[CrewRole.HOST]
    )
    assignment = services.crew_assign(
        actor=producer, stream=stream, person=host, role=CrewRole.HOST
    )
    services.readiness_override(actor=producer, stream=stream, reason="Lineup comes on the day")
    services.crew_unassign(actor=producer, assignment=assignment)

    with pytest.raises(ValidationError) as refused:
        services.stream_transition(actor=producer, stream=stream, to=StreamStatus.LIVE)
    services.readiness_override(actor=producer, stream=stream, reason="Guest host walks in")
    live = services.stream_transition(actor=producer, stream=stream, to=StreamStatus.LIVE)

    assert "Host assigned" in refused.value.messages[0]
    assert "Lineup has products" not in refused.value.messages[0]
    assert live.status == StreamStatus.LIVE


def test_an_override_with_nothing_missing_is_refused():
    producer = UserFactory(roles=[Role.PRODUCER])
    host = UserFactory()
    stream = _stream(
        _at(1, 20), studio=StudioFactory(members=[producer, host]), required_roles=[CrewRole.HOST]
    )
    services.crew_assign(actor=producer, stream=stream, person=host, role=CrewRole.HOST)
    LineupItemFactory(stream=stream)

    with pytest.raises(ValidationError, match="no override is needed"):
        services.readiness_override(actor=producer, stream=stream, reason="Just in case")
