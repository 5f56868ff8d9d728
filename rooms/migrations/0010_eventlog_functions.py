"""The event log's writes as two functions in the database.

A transaction's events are written by the message that commits it, bound as text
(`rooms.eventlog.commit_held`): the database parsed and planned the write for every
commit. PL/pgSQL keeps each function's plans for the life of the connection, so the
message only calls them.
"""

from django.db import migrations

ALLOCATE = """
CREATE FUNCTION rooms_eventlog_allocate(p_stream bigint, p_count bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_last bigint;
BEGIN
    -- A plain UPDATE, so writers waiting for a busy stream's head queue on its lock one
    -- behind another; the INSERT runs only for a stream's first event (and, racing for
    -- it, one writer inserts and the others add to its row).
    UPDATE rooms_eventloghead SET last_seq = last_seq + p_count
    WHERE stream_id = p_stream
    RETURNING last_seq INTO v_last;
    IF NOT FOUND THEN
        INSERT INTO rooms_eventloghead AS head (stream_id, last_seq)
        VALUES (p_stream, p_count)
        ON CONFLICT (stream_id) DO UPDATE SET last_seq = head.last_seq + EXCLUDED.last_seq
        RETURNING last_seq INTO v_last;
    END IF;
    RETURN v_last;
END
$$;
"""

WRITE = """
CREATE FUNCTION rooms_eventlog_write(
    p_stream bigint, p_types text[], p_ops text[], p_datas text[]
) RETURNS TABLE (seq bigint, at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_count bigint := cardinality(p_types);
    v_last bigint;
    v_at timestamptz;
BEGIN
    v_last := rooms_eventlog_allocate(p_stream, v_count);
    -- Stamped once the head is locked: a later id never carries an earlier time.
    v_at := clock_timestamp();
    RETURN QUERY
    WITH written AS (
        INSERT INTO rooms_streamevent (stream_id, seq, type, op, at, data)
        SELECT p_stream, v_last - v_count + e.n, e.type, e.op, v_at, e.data::jsonb
        FROM unnest(p_types, p_ops, p_datas) WITH ORDINALITY AS e(type, op, data, n)
        RETURNING rooms_streamevent.seq, rooms_streamevent.at
    )
    SELECT written.seq, written.at FROM written;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("rooms", "0009_run_of_show")]

    operations = [
        migrations.RunSQL(ALLOCATE, "DROP FUNCTION rooms_eventlog_allocate(bigint, bigint)"),
        migrations.RunSQL(
            WRITE, "DROP FUNCTION rooms_eventlog_write(bigint, text[], text[], text[])"
        ),
    ]
