"""Batches of 10,000: the request body and the checks give what the plain ones would, fast."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from webapp.gateway import InvalidMessage, Recipient, SmsMessage, validate_message
from webapp.gateway.messages import RecipientColumns, RecipientRows, payload_json, to_payload

BATCH = 10_000


def numbers(count: int) -> list[str]:
    return [str(4520000000 + n) for n in range(count)]


def personalised(count: int = BATCH, **fields) -> SmsMessage:
    recipients = [Recipient(m, (f"Name{n}", "")) for n, m in enumerate(numbers(count))]
    return SmsMessage("Hi %name%%code%", recipients, tags=["%name%", "%code%"], **fields)


def as_rows(sms: SmsMessage) -> SmsMessage:
    """The same message with its recipients kept as RecipientRows."""
    sms.recipients = RecipientRows((r.msisdn, r.tagvalues) for r in sms.recipients)
    return sms


def as_columns(sms: SmsMessage) -> SmsMessage:
    """The same message with its recipients kept as RecipientColumns (as the dispatcher does)."""
    width = len(sms.tags or ())
    rows = [(r.msisdn, *(r.tagvalues or ())) for r in sms.recipients]
    sms.recipients = RecipientColumns.from_rows(rows, width)
    return sms


def test_recipient_rows_read_like_a_list_of_recipients():
    listed = personalised(3).recipients
    rows = RecipientRows((r.msisdn, r.tagvalues) for r in listed)

    assert len(rows) == 3
    assert list(rows) == listed
    assert rows[-1] == listed[-1]
    assert list(rows[1:]) == listed[1:]
    assert "3 recipients" in repr(rows)


def test_recipient_rows_give_the_same_body_as_a_list():
    assert payload_json(as_rows(personalised(1_234)), token="t") == payload_json(
        personalised(1_234), token="t"
    )
    assert to_payload(as_rows(personalised(3))) == to_payload(personalised(3))


@pytest.mark.parametrize("width", [0, 1, 2])
def test_recipient_columns_give_the_same_recipients_and_body_as_a_list(width):
    tags = ["%a%", "%b%"][:width]
    listed = [
        Recipient(m, tuple(f"Zoë {n}{tag}" for tag in tags) or None)
        for n, m in enumerate(numbers(1_001))
    ]
    sms = SmsMessage("Hi " + "".join(tags), listed, tags=tags or None, label="L")
    columns = as_columns(
        SmsMessage("Hi " + "".join(tags), list(listed), tags=tags or None, label="L")
    )

    assert payload_json(columns, token="t") == payload_json(sms, token="t")
    assert to_payload(columns) == to_payload(sms)
    assert len(columns.recipients) == 1_001
    assert [tuple(r.tagvalues or ()) for r in columns.recipients[-2:]] == [
        tuple(r.tagvalues or ()) for r in listed[-2:]
    ]
    assert columns.recipients[5].msisdn == listed[5].msisdn
    validate_message(columns)


def test_recipient_columns_refuse_rows_of_another_width():
    with pytest.raises(ValueError, match="tag values"):
        RecipientColumns.from_rows([("4520000000", "a"), ("4520000001", "b", "c")], 1)


@pytest.mark.parametrize("count", [1, 2, 1_001])
def test_the_body_is_the_payload_and_the_extra_keys(count):
    sms = personalised(
        count,
        sender="Shop",
        label="Spring",
        sendtime=datetime(2030, 1, 1, tzinfo=UTC),
        callback_url="https://dash.example/reports",
        userref="campaign-1-batch-1",
    )

    body = json.loads(payload_json(sms, token="t0ken", dry_run=True))

    assert body == {**to_payload(sms), "token": "t0ken", "dry_run": True}
    assert [r["msisdn"] for r in body["recipients"]] == numbers(count)


def test_the_body_of_a_plain_message_has_no_tagvalues():
    sms = SmsMessage("Hello", [Recipient(m) for m in numbers(3)])

    body = json.loads(payload_json(sms))

    assert body == {"message": "Hello", "recipients": [{"msisdn": m} for m in numbers(3)]}


def test_the_body_keeps_text_that_json_must_escape():
    sms = SmsMessage('Æ "quoted" \\ \n %n%', [Recipient("4520123456", ["Zoë 👋"])], tags=["%n%"])

    assert json.loads(payload_json(sms))["recipients"][0]["tagvalues"] == ["Zoë 👋"]
    assert json.loads(payload_json(sms))["message"] == 'Æ "quoted" \\ \n %n%'


def test_a_full_batch_with_tuple_tagvalues_is_valid():
    validate_message(personalised())
    validate_message(as_rows(personalised()))


def test_a_number_given_as_an_integer_is_still_accepted():
    validate_message(SmsMessage("Hi", [Recipient(4520123456), Recipient("4520123457")]))


@pytest.mark.parametrize(
    ("position", "bad", "complaint"),
    [
        (7_501, Recipient("004520123456", ("x", "")), "Recipient 7501: MSISDN 004520123456"),
        (9_000, Recipient("4520", ("x", "")), "Recipient 9000: MSISDN 4520 is too short"),
        (10_000, Recipient("45 2012", ("x", "")), "Recipient 10000: MSISDN '45 2012'"),
        (2, Recipient("4599999999", ("x",)), r"Recipient 2 \(4599999999\) has 1 tagvalues"),
        (5_000, Recipient("4599999999", ("x", 5)), "Recipient 5000 .* must be a string"),
        (8_000, Recipient("4599999999", ("x", "\ud800")), "tag value of recipient 8000"),
        (9_999, Recipient("4520000003", ("x", "")), "more than once: 4520000003"),
    ],
)
def test_one_bad_recipient_in_a_full_batch_is_named(position, bad, complaint):
    sms = personalised()
    sms.recipients[position - 1] = bad

    with pytest.raises(InvalidMessage, match=complaint):
        validate_message(sms)
    with pytest.raises(InvalidMessage, match=complaint):
        validate_message(as_rows(sms))
    if len(bad.tagvalues) == 2:  # columns hold the same number of values for everyone
        with pytest.raises(InvalidMessage, match=complaint):
            validate_message(as_columns(personalised_with(position, bad)))


def personalised_with(position: int, bad: Recipient) -> SmsMessage:
    sms = personalised()
    sms.recipients[position - 1] = bad
    return sms
