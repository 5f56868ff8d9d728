"""Statements prepared on the server, run through cursors kept on the connection."""

import pytest
from django.db import DataError, connection

from rooms import prepared

pytestmark = pytest.mark.django_db(transaction=True)

ADD_ONE = "SELECT %(n)s::integer + 1"


def test_a_statement_runs_again_on_its_kept_cursor_and_after_a_reconnect_on_the_new_one():
    first = prepared.execute(ADD_ONE, {"n": 1})
    kept = dict(connection.kept_cursors)
    again = prepared.execute(ADD_ONE, {"n": 2})
    kept_again = dict(connection.kept_cursors)
    connection.close()  # its connection goes back to the pool, for any thread to take
    after_reconnect = prepared.execute(ADD_ONE, {"n": 3})

    assert (first, again, after_reconnect) == ([(2,)], [(3,)], [(4,)])
    assert len(kept) == 1
    assert kept_again == kept
    [cursor] = connection.kept_cursors.values()
    assert cursor.connection is connection.connection


def test_a_failed_statement_leaves_its_kept_cursor_usable():
    with pytest.raises(DataError, match="division by zero"):
        prepared.execute("SELECT 1 / %(n)s::integer", {"n": 0})
    assert prepared.execute("SELECT 1 / %(n)s::integer", {"n": 1}) == [(1,)]
