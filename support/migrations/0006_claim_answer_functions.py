"""Claiming a group that looked free, and answering a group one holds, as functions in the
database.

Each is called outside any transaction, in one message that commits it
(`rooms.eventlog.commit_alone`), instead of a transaction of four or five round trips. The
application has already read the group, decided, and composed the event from what it read;
a function changes the group only if its row is still the version read (its `xmin`), so the
event it writes is the row as written. When the row changed, or anything else is not as the
function needs it, it writes nothing and the service decides again by its usual path.

The rules written here are those of `support.services` (`_free_sql`, `_held_sql`) and must
change with them, by a migration replacing these functions.
"""

from django.db import migrations

CLAIM = """
CREATE FUNCTION support_claim_take(
    p_group bigint, p_xmin bigint, p_actor bigint, p_now timestamptz, p_until timestamptz,
    p_online text, p_cs_agent text,
    p_stream bigint, p_types text[], p_ops text[], p_datas text[]
) RETURNS TABLE (seq bigint, at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_capacity integer;
BEGIN
    -- The agent's row first, as every claim locks it: two claims of one agent queue here,
    -- and each statement below reads what the one before committed.
    SELECT capacity INTO v_capacity FROM support_agent
    WHERE user_id = p_actor AND status = p_online
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM rooms_crewassignment
        WHERE stream_id = p_stream AND person_id = p_actor AND role = p_cs_agent
    ) THEN
        RETURN;
    END IF;
    IF (
        SELECT count(*) FROM support_questiongroup
        WHERE claimed_by_id = p_actor AND status = 'open' AND claim_expires_at >= p_now
    ) >= v_capacity THEN
        RETURN;
    END IF;
    UPDATE support_questiongroup
    SET claimed_by_id = p_actor, claim_expires_at = p_until, version = version + 1
    WHERE id = p_group AND stream_id = p_stream AND xmin = p_xmin::text::xid;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT w.seq, w.at FROM rooms_eventlog_write(p_stream, p_types, p_ops, p_datas) AS w;
END
$$;
"""

ANSWER = """
CREATE FUNCTION support_answer_write(
    p_group bigint, p_xmin bigint, p_actor bigint, p_now timestamptz, p_reply text,
    p_key text, p_answered text, p_pending text,
    p_stream bigint, p_types text[], p_ops text[], p_datas text[]
) RETURNS TABLE (seq bigint, at timestamptz)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE support_questiongroup
    SET status = p_answered, answered_by_id = p_actor, answered_at = p_now, reply = p_reply,
        claimed_by_id = NULL, claim_expires_at = NULL, version = version + 1
    WHERE id = p_group AND stream_id = p_stream AND xmin = p_xmin::text::xid;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    INSERT INTO support_replyoutbox (
        group_id, stream_id, idempotency_key, text, to_users, status, attempts,
        next_attempt_at, platform_message_id, last_error, created_at
    )
    VALUES (
        p_group, p_stream, p_key, p_reply,
        to_jsonb(ARRAY(
            SELECT DISTINCT user_id FROM support_question
            WHERE group_id = p_group ORDER BY user_id
        )),
        p_pending, 0, p_now, '', '', p_now
    );
    RETURN QUERY SELECT w.seq, w.at FROM rooms_eventlog_write(p_stream, p_types, p_ops, p_datas) AS w;
END
$$;
"""

CLAIM_ARGS = "bigint, bigint, bigint, timestamptz, timestamptz, text, text, bigint, text[], text[], text[]"
ANSWER_ARGS = (
    "bigint, bigint, bigint, timestamptz, text, text, text, text, bigint, text[], text[], text[]"
)


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0010_eventlog_functions"),
        ("support", "0005_claims_held_index"),
    ]

    operations = [
        migrations.RunSQL(CLAIM, f"DROP FUNCTION support_claim_take({CLAIM_ARGS})"),
        migrations.RunSQL(ANSWER, f"DROP FUNCTION support_answer_write({ANSWER_ARGS})"),
    ]
