import pytest
from django.utils import translation

from rooms import readiness
from rooms.models import CrewRole
from rooms.readiness import ReadinessItem
from tests.factories import CrewAssignmentFactory, LineupItemFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def rooms_checks_only(monkeypatch) -> None:
    """A registry holding only rooms' own checks (whatever other apps add), restored after."""
    monkeypatch.setattr(
        readiness, "_checks", [(10, readiness.crew_filled), (20, readiness.lineup_complete)]
    )


def _by_key(items: list[ReadinessItem]) -> dict[str, ReadinessItem]:
    return {item.key: item for item in items}


def test_a_required_role_nobody_fills_is_not_done_and_a_filled_one_names_its_people():
    stream = StreamFactory(required_roles=[CrewRole.HOST, CrewRole.ROOM_OPERATOR])
    host = UserFactory(display_name="Lin Yue")
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)

    items = _by_key(readiness.crew_filled(stream))

    assert items["crew:host"] == ReadinessItem(
        key="crew:host", label="Host assigned", done=True, detail="Lin Yue"
    )
    assert items["crew:room_operator"].done is False
    assert items["crew:room_operator"].detail == ""


def test_crew_in_roles_the_stream_does_not_require_add_no_items():
    stream = StreamFactory(required_roles=[CrewRole.HOST])
    CrewAssignmentFactory(stream=stream, role=CrewRole.HOST)
    CrewAssignmentFactory(stream=stream, role=CrewRole.CHEER)

    items = list(readiness.crew_filled(stream))

    assert [item.key for item in items] == ["crew:host"]


def test_products_without_a_live_price_or_stock_are_named_as_not_done():
    stream = StreamFactory()
    LineupItemFactory(stream=stream, position=1, link_number=11)
    LineupItemFactory(stream=stream, position=2, link_number=12, live_price=None)
    LineupItemFactory(stream=stream, position=3, link_number=13, stock=None)
    LineupItemFactory(stream=stream, position=4, link_number=14, stock=0)

    items = _by_key(readiness.lineup_complete(stream))

    assert items["lineup:products"].done is True
    assert items["lineup:products"].detail == "4 products"
    assert items["lineup:prices"].done is False
    assert items["lineup:prices"].detail == "Missing: #12"
    assert items["lineup:stock"].done is False
    assert items["lineup:stock"].detail == "No stock: #13, #14"


def test_a_priced_and_stocked_lineup_is_done():
    stream = StreamFactory()
    LineupItemFactory.create_batch(2, stream=stream)

    items = list(readiness.lineup_complete(stream))

    assert [(item.key, item.done) for item in items] == [
        ("lineup:products", True),
        ("lineup:prices", True),
        ("lineup:stock", True),
    ]


def test_an_empty_lineup_is_not_done_on_any_count():
    stream = StreamFactory()

    items = list(readiness.lineup_complete(stream))

    assert [(item.key, item.done) for item in items] == [
        ("lineup:products", False),
        ("lineup:prices", False),
        ("lineup:stock", False),
    ]


def test_the_checklist_puts_crew_before_lineup_and_lists_what_is_missing():
    stream = StreamFactory(required_roles=[CrewRole.HOST, CrewRole.ROOM_OPERATOR])
    CrewAssignmentFactory(stream=stream, role=CrewRole.HOST)
    LineupItemFactory(stream=stream, live_price=None)

    items = readiness.checklist(stream)

    assert [item.key for item in items if item.key.startswith(("crew:", "lineup:"))] == [
        "crew:host",
        "crew:room_operator",
        "lineup:products",
        "lineup:prices",
        "lineup:stock",
    ]
    assert {item.key for item in items if not item.done} >= {
        "crew:room_operator",
        "lineup:prices",
    }


@pytest.mark.usefixtures("rooms_checks_only")
def test_another_apps_check_joins_the_checklist_in_its_order_once():
    stream = StreamFactory(required_roles=[CrewRole.HOST])

    def script_locked(stream):
        yield ReadinessItem(key="script:locked", label="Script locked", done=False)

    readiness.register(script_locked, order=15)
    readiness.register(script_locked, order=15)
    items = readiness.checklist(stream)

    assert [item.key for item in items] == [
        "crew:host",
        "script:locked",
        "lineup:products",
        "lineup:prices",
        "lineup:stock",
    ]
