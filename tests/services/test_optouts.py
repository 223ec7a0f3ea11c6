"""The opt-out list: numbers in any format, by hand or by file, kept out of imports and sends."""

from __future__ import annotations

import io

import pytest
from helpers import make_list
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Campaign, OptOut
from webapp.services import campaigns, optouts
from webapp.services.optouts import OptOutInvalid


def numbers() -> list[str]:
    return list(db.session.scalars(select(OptOut.msisdn).order_by(OptOut.msisdn)))


def test_numbers_typed_any_way_are_stored_once_normalised(ctx, sender):
    result = optouts.add_opt_outs(
        db.session,
        ["20 12 34 56", "+4520123456", "0046 70 123 45 67", "call me", ""],
        default_country="DK",
        user=sender,
        note="asked by phone",
    )

    assert (result.added, result.already) == (2, 1)
    assert result.invalid == [("call me", "not a phone number"), ("", "missing phone number")]
    assert numbers() == ["4520123456", "46701234567"]
    stored = db.session.get(OptOut, "4520123456")
    assert stored.note == "asked by phone" and stored.created_by_id == sender.id


def test_a_number_already_opted_out_is_counted_not_added_again(ctx):
    optouts.add_opt_outs(db.session, ["20123456"], default_country="DK")
    result = optouts.add_opt_outs(db.session, ["+45 20 12 34 56"], default_country="DK")
    assert (result.added, result.already, result.invalid) == (0, 1, [])


def test_the_box_takes_numbers_per_line_or_separated_by_commas():
    assert optouts.split_numbers("20 12 34 56\n+46 70 123 45 67, 21345678;\n\n") == [
        "20 12 34 56",
        "+46 70 123 45 67",
        "21345678",
    ]


def test_a_csv_file_adds_its_phone_column_and_reports_bad_lines(ctx):
    csv_text = "Name;Mobil\nIda;20123456\nBo;n/a\n\nEva;+45 20 12 34 56\nOle;21345678\n"

    result = optouts.import_opt_outs(
        db.session, io.BytesIO(csv_text.encode("cp1252")), default_country="DK"
    )

    assert (result.added, result.already) == (2, 1)
    assert result.invalid == [("line 3", "not a phone number")]
    assert numbers() == ["4520123456", "4521345678"]


def test_a_file_of_bare_numbers_uses_its_first_column(ctx):
    result = optouts.import_opt_outs(
        db.session, io.BytesIO(b"20123456\n21345678\n"), default_country="DK"
    )
    assert result.added == 2


def test_an_unreadable_file_adds_nothing(ctx):
    rows = b"".join(b"2012%04d\n" % n for n in range(100))
    with pytest.raises(OptOutInvalid, match="field larger than field limit"):
        optouts.import_opt_outs(
            db.session, io.BytesIO(rows + b'"' + b"x" * 200_000), default_country="DK"
        )
    assert numbers() == []


def test_removing_a_number_allows_it_again(ctx):
    optouts.add_opt_outs(db.session, ["20123456"], default_country="DK")
    optouts.remove_opt_out(db.session, "4520123456")
    assert numbers() == []
    with pytest.raises(OptOutInvalid, match=r"\+4520123456 is not on the opt-out list."):
        optouts.remove_opt_out(db.session, "4520123456")


def test_search_finds_numbers_by_digits_and_notes_by_text(ctx):
    optouts.add_opt_outs(db.session, ["20123456"], default_country="DK", note="Complained")
    optouts.add_opt_outs(db.session, ["21345678"], default_country="DK")

    assert [o.msisdn for o in optouts.search_opt_outs(db.session, query="+45 2134").rows] == [
        "4521345678"
    ]
    assert [o.msisdn for o in optouts.search_opt_outs(db.session, query="complain").rows] == [
        "4520123456"
    ]
    assert optouts.search_opt_outs(db.session).total == optouts.opt_out_count(db.session) == 2


def test_an_opted_out_number_is_left_out_of_every_send(ctx):
    recipient_list = make_list(db.session, "L", ["4520123456", "4521345678"])
    optouts.add_opt_outs(db.session, ["20123456"], default_country="DK")
    campaign = Campaign(name="c", sender="Shop", lists=[recipient_list])
    db.session.add(campaign)
    db.session.commit()

    resolved = campaigns.resolve_recipients(db.session, campaign)

    assert [r.msisdn for r in resolved.recipients] == ["4521345678"]
    assert resolved.excluded_opted_out == 1
