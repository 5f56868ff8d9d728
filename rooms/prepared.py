"""Statements run often enough to be worth preparing on the server.

Django hands PostgreSQL each statement with its parameters inline (psycopg's client-side
binding), so the server parses and plans every one it receives. For the few statements a
busy stream runs hundreds of times a second — taking a question, answering it, writing the
event log — parsing and planning cost more than the work, and pooled connections live long
enough to keep a plan. `execute` runs such a statement through a server-binding cursor that
prepares it on each connection's first use and reuses it after.

psycopg forgets a connection's prepared statements when a transaction rolls back (and tells
the server to drop them), so services using this keep their usual refusals — a conflict, a
taken group, a full agent — out of rollbacks with `atomic_refusing()`.
(A rollback to a savepoint has the same effect; the paths using this take none.)

These statements do not pass through Django's cursor wrapper: they are not in
`connection.queries` nor seen by `CaptureQueriesContext`. Errors are Django's, as usual.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction


def execute(
    sql: str, params: Mapping[str, Any] | Sequence[Any], *, wrapper: Any = None
) -> list[tuple]:
    """Run `sql`, a statement that returns rows (`%s` or `%(name)s` placeholders), as a
    prepared statement on the current connection (or Django's connection `wrapper`), in
    its current transaction.

    Rows come in PostgreSQL's binary format, read by psycopg's C loaders: times are aware
    datetimes in UTC, as Django's; `jsonb` would come parsed (Django reads it as text).
    """
    # The proxy `connection` would look the connection up on every use.
    db = wrapper or connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    db.validate_no_broken_transaction()
    query = encoded(sql)
    with db.wrap_database_errors:
        cursor = kept_cursor(query, wrapper=db)
        cursor.execute(query, params, prepare=True, binary=True)
        return cursor.fetchall()


def kept_cursor(query: bytes, kind: type = psycopg.Cursor, *, wrapper: Any) -> Any:
    """A cursor of `kind` on Django's connection `wrapper`, kept for `query` (one bytes
    object, `encoded`). A `Cursor` running the query it ran last keeps how it adapts the
    parameters and rows, where a new one looked every parameter's adapter up afresh: a
    fifth of the claims' Python time. A `ClientCursor` adapts afresh on every `mogrify`;
    keeping one saves only building it. A kept cursor holds its last parameters and rows
    until it runs again or its connection closes. Kept if the connection's backend is
    `rooms.backend`; with any other, a new cursor each time."""
    raw = wrapper.connection
    kept = getattr(wrapper, "kept_cursors", None)
    if kept is None:
        return kind(raw)
    cursor = kept.get((kind, query))
    if cursor is None or cursor.closed or cursor.connection is not raw:
        cursor = kept[(kind, query)] = kind(raw)
    return cursor


_encoded: dict[str, bytes] = {}


def encoded(sql: str) -> bytes:
    """The statement as psycopg sends it. A text statement is encoded, and its placeholders
    looked up by the encoded bytes' hash, on every call: for these few long statements
    run hundreds of times a second that was a tenth of the claims' Python time."""
    data = _encoded.get(sql)
    if data is None:
        data = _encoded[sql] = sql.encode()
    return data


@contextmanager
def atomic_refusing() -> Iterator[None]:
    """`transaction.atomic()` for a service whose refusals (`ValidationError`,
    `PermissionDenied`) all come before it writes anything: a refusal commits what the
    block read and locked, and is raised once the transaction is over. Any other error
    rolls back as usual. A service that may refuse after writing must not use this."""
    refused: list[Exception] = []
    with transaction.atomic():
        try:
            yield
        except (ValidationError, PermissionDenied) as refusal:
            refused.append(refusal)
    if refused:
        raise refused[0]
