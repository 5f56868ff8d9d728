import hashlib
import hmac
import json

import pytest

from rooms import ingest
from rooms.ingest import IngestRejected, parse_batch, sign, verify_signature

SECRET = "a" * 64
OTHER_SECRET = "b" * 64
BODY = json.dumps(
    {
        "events": [
            {
                "id": "e1",
                "type": "comment",
                "at": "2026-11-28T12:00:00Z",
                "user_id": "u1",
                "user_name": "小鱼儿",
                "text": "几号发货？",
            }
        ]
    },
    ensure_ascii=False,
).encode()
NOW = 1_800_000_000


def _verify(*, secrets=(SECRET,), timestamp=str(NOW), signature=None, body=BODY, now=NOW):
    signature = signature if signature is not None else f"v1={sign(SECRET, timestamp, body)}"
    verify_signature(
        secrets=list(secrets),
        timestamp=timestamp,
        signature=signature,
        body=body,
        now=now,
        max_skew=300,
    )


def test_a_correct_signature_verifies():
    _verify()


@pytest.mark.parametrize("position", range(len(BODY)))
def test_any_flipped_byte_in_the_body_is_rejected(position):
    signature = f"v1={sign(SECRET, NOW, BODY)}"
    tampered = bytearray(BODY)
    tampered[position] ^= 0x01

    with pytest.raises(IngestRejected) as rejected:
        _verify(signature=signature, body=bytes(tampered))

    assert rejected.value.status == 401


@pytest.mark.parametrize("position", range(len("v1=") + 64))
def test_any_flipped_byte_in_the_signature_is_rejected(position):
    signature = bytearray(f"v1={sign(SECRET, NOW, BODY)}".encode())
    signature[position] ^= 0x01

    with pytest.raises(IngestRejected) as rejected:
        _verify(signature=signature.decode("latin-1"))

    assert rejected.value.status == 401


@pytest.mark.parametrize("position", range(len(str(NOW))))
def test_any_flipped_byte_in_the_timestamp_is_rejected(position):
    signature = f"v1={sign(SECRET, NOW, BODY)}"
    timestamp = bytearray(str(NOW).encode())
    timestamp[position] ^= 0x01

    with pytest.raises(IngestRejected) as rejected:
        _verify(signature=signature, timestamp=timestamp.decode("latin-1"))

    assert rejected.value.status == 401


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_a_timestamp_outside_300_seconds_is_rejected(age):
    timestamp = str(NOW - age)

    with pytest.raises(IngestRejected) as rejected:
        _verify(timestamp=timestamp, signature=f"v1={sign(SECRET, timestamp, BODY)}")

    assert rejected.value.status == 401
    assert "300 s" in rejected.value.reason


def test_a_timestamp_300_seconds_old_is_still_accepted():
    timestamp = str(NOW - 300)

    _verify(timestamp=timestamp, signature=f"v1={sign(SECRET, timestamp, BODY)}")


@pytest.mark.parametrize("signing_secret", [SECRET, OTHER_SECRET])
def test_during_rotation_either_secret_verifies(signing_secret):
    signature = f"v1={sign(signing_secret, NOW, BODY)}"

    _verify(secrets=(SECRET, OTHER_SECRET), signature=signature)


def test_a_header_with_several_v1_values_verifies_when_one_matches():
    signature = f"v1={'0' * 64}, v1={sign(OTHER_SECRET, NOW, BODY)}"

    _verify(secrets=(OTHER_SECRET,), signature=signature)


@pytest.mark.parametrize("signature", ["", "v0=abc", "sha256=" + "0" * 64, "v1="])
def test_a_missing_or_foreign_scheme_is_rejected(signature):
    with pytest.raises(IngestRejected) as rejected:
        _verify(signature=signature)

    assert rejected.value.status == 401


def test_a_secret_that_has_expired_no_longer_verifies():
    with pytest.raises(IngestRejected):
        _verify(secrets=(OTHER_SECRET,))


def _batch(*events) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def _event(**overrides):
    event = {
        "id": "e1",
        "type": "order",
        "at": "2026-11-28T12:00:00+08:00",
        "order_id": "o1",
        "sku": "SKU-1",
        "quantity": 2,
        "amount": 259.8,
        "status": "paid",
    }
    event.update(overrides)
    return event


def test_a_valid_batch_parses_with_exact_money():
    (event,) = parse_batch(_batch(_event()), max_events=1000)

    assert event.type == "order"
    assert event.fields["amount"] == "259.8"
    assert event.at.utcoffset().total_seconds() == 8 * 3600


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"\xff\xfe", "body is not valid JSON"),
        (b"[]", 'body must be an object with an "events" array'),
        (b'{"events": {}}', 'body must be an object with an "events" array'),
        (_batch("e1"), "events[0]: expected an object"),
        (_batch(_event(id=7)), "events[0].id: expected a string"),
        (_batch(_event(id="")), "events[0].id: expected a string"),
        (_batch(_event(type=None)), "events[0].type: expected a string"),
        (_batch(_event(at="yesterday")), "events[0].at: expected an ISO 8601"),
        (_batch(_event(at="2026-11-28T12:00:00")), "events[0].at: must include a UTC offset"),
        (_batch(_event(quantity="2")), "events[0].quantity: expected a whole number"),
        (_batch(_event(quantity=True)), "events[0].quantity: expected a whole number"),
        (_batch(_event(quantity=-1)), "events[0].quantity: must not be negative"),
        (_batch(_event(amount="abc")), "events[0].amount: expected a decimal number"),
        (_batch(_event(amount="NaN")), "events[0].amount: must be a finite"),
        (_batch(_event(status="shipped")), "events[0].status: expected one of"),
        (_batch(_event(), _event(id="e2", sku=None)), "events[1].sku: expected a string"),
        (
            _batch({"id": "v", "type": "viewers", "at": "2026-11-28T12:00:00Z", "online": 5}),
            "events[0].entered_total: required for viewers events",
        ),
    ],
)
def test_malformed_batches_are_rejected_with_the_reason(body, reason):
    with pytest.raises(IngestRejected) as rejected:
        parse_batch(body, max_events=1000)

    assert rejected.value.status == 400
    assert reason in rejected.value.reason


def test_an_oversize_batch_is_rejected():
    body = _batch(*[_event(id=f"e{i}") for i in range(1001)])

    with pytest.raises(IngestRejected) as rejected:
        parse_batch(body, max_events=1000)

    assert rejected.value.reason == "too many events: 1001 (at most 1000)"


def test_unknown_types_and_extra_fields_are_kept():
    gift = {
        "id": "g1",
        "type": "gift",
        "at": "2026-11-28T12:00:00Z",
        "gift": "rocket",
        "value": 12.5,
    }
    order = _event(coupon_code="AUTUMN")

    parsed = parse_batch(_batch(gift, order), max_events=1000)

    assert parsed[0].fields == {"gift": "rocket", "value": "12.5"}
    assert parsed[1].fields["coupon_code"] == "AUTUMN"


def test_a_handler_can_only_be_registered_for_a_known_type():
    with pytest.raises(ValueError, match="not an ingest event type"):
        ingest.register_handler("gift", lambda *, stream, events: None)


def test_registering_a_second_handler_for_a_type_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        ingest.register_handler("comment", lambda *, stream, events: None)


def test_the_signature_is_hex_hmac_sha256_over_timestamp_dot_raw_body():
    digest = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert sign(SECRET, NOW, BODY) == digest
