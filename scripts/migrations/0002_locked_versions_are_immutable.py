from django.db import migrations

# A locked script version is what hosts memorised and what goes on air: nothing may change
# it, not a service, not the admin, not a hand-written UPDATE. These triggers refuse, with
# SQLSTATE 23001 (restrict_violation, an IntegrityError to Django), any change to a locked
# version row or to any segment, line or cue inside one.
FORWARD = """
-- FOR SHARE: a write into a draft waits for a lock of that draft in progress, then sees
-- it locked, instead of slipping in beside it.
CREATE FUNCTION scripts_version_locked(version_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    SELECT status = 'locked' FROM scripts_scriptversion WHERE id = version_id FOR SHARE
$$;

CREATE FUNCTION scripts_refuse_locked(version_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF scripts_version_locked(version_id) THEN
        RAISE EXCEPTION 'script version % is locked and cannot change', version_id
            USING ERRCODE = 'restrict_violation';
    END IF;
END
$$;

CREATE FUNCTION scripts_guard_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'locked' THEN
        RAISE EXCEPTION 'script version % is locked and cannot change', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION scripts_guard_segment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN PERFORM scripts_refuse_locked(OLD.version_id); END IF;
    IF TG_OP <> 'DELETE' THEN PERFORM scripts_refuse_locked(NEW.version_id); END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION scripts_guard_line() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM scripts_refuse_locked(version_id) FROM scripts_segment WHERE id = OLD.segment_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM scripts_refuse_locked(version_id) FROM scripts_segment WHERE id = NEW.segment_id;
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION scripts_guard_cue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM scripts_refuse_locked(s.version_id)
        FROM scripts_line l JOIN scripts_segment s ON s.id = l.segment_id
        WHERE l.id = OLD.line_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM scripts_refuse_locked(s.version_id)
        FROM scripts_line l JOIN scripts_segment s ON s.id = l.segment_id
        WHERE l.id = NEW.line_id;
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER scripts_version_immutable BEFORE UPDATE OR DELETE ON scripts_scriptversion
    FOR EACH ROW EXECUTE FUNCTION scripts_guard_version();
CREATE TRIGGER scripts_segment_immutable BEFORE INSERT OR UPDATE OR DELETE ON scripts_segment
    FOR EACH ROW EXECUTE FUNCTION scripts_guard_segment();
CREATE TRIGGER scripts_line_immutable BEFORE INSERT OR UPDATE OR DELETE ON scripts_line
    FOR EACH ROW EXECUTE FUNCTION scripts_guard_line();
CREATE TRIGGER scripts_cue_immutable BEFORE INSERT OR UPDATE OR DELETE ON scripts_cue
    FOR EACH ROW EXECUTE FUNCTION scripts_guard_cue();
"""

REVERSE = """
DROP TRIGGER scripts_cue_immutable ON scripts_cue;
DROP TRIGGER scripts_line_immutable ON scripts_line;
DROP TRIGGER scripts_segment_immutable ON scripts_segment;
DROP TRIGGER scripts_version_immutable ON scripts_scriptversion;
DROP FUNCTION scripts_guard_cue();
DROP FUNCTION scripts_guard_line();
DROP FUNCTION scripts_guard_segment();
DROP FUNCTION scripts_guard_version();
DROP FUNCTION scripts_refuse_locked(bigint);
DROP FUNCTION scripts_version_locked(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [("scripts", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
