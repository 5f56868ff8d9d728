"""The database backend: Django's PostgreSQL backend, committing with the event log.

A transaction's appends to the event log are held on the connection and written with its
COMMIT, in the same message (`rooms.eventlog.commit_held`); see `rooms.eventlog` for why. This
backend keeps the held events in step with the transaction: written by a commit, forgotten
by a rollback, and by a rollback to a savepoint those appended since it.
"""

from django.db import DatabaseError
from django.db.backends.postgresql import base
from django.db.backends.utils import debug_transaction


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # `eventlog._Held` entries, in the order appended.
        self.eventlog_held: list = []
        # `prepared.kept_cursor`'s cursors, by kind and statement; those of a closed
        # connection are replaced as they are next asked for.
        self.kept_cursors: dict = {}

    def _commit(self):
        if self.connection is None or not self.eventlog_held:
            return super()._commit()
        from rooms import eventlog

        try:
            with debug_transaction(self, "COMMIT"), self.wrap_database_errors:
                eventlog.commit_held(self)
        except DatabaseError:
            raise
        except Exception as error:
            # Whatever failed, the transaction must be rolled back, which Django does for a
            # commit's database errors only.
            raise DatabaseError(f"the commit with the event log failed: {error!r}") from error

    def _rollback(self):
        self.eventlog_held = []
        return super()._rollback()

    def _close(self):
        self.eventlog_held = []
        self.kept_cursors = {}
        return super()._close()

    def _set_autocommit(self, autocommit):
        result = super()._set_autocommit(autocommit)
        # Held events belong to the transaction that appended them and to no later one,
        # whichever way that transaction ended.
        self.eventlog_held = []
        return result

    def savepoint_rollback(self, sid):
        super().savepoint_rollback(sid)
        from rooms import eventlog

        eventlog.discard_held(self, sid)
