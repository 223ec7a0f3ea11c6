"""The consent record (every opt-out and opt-in an event, never changed), and opt-outs holding
on every send path: campaigns, follow-ups, copies and test messages."""

from __future__ import annotations

import pytest
from helpers import danish_numbers, gateway_client, make_list
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import (
    CampaignRecipient,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    OptOut,
    RecipientState,
)
from webapp.services import campaigns, dispatch, optouts
from webapp.services.campaigns import CampaignDraft, CampaignInvalid
from webapp.services.preview import preview_campaign
from webapp.services.recipient_states import current_state

NUMBERS = danish_numbers(4)
OPTED_OUT = NUMBERS[1]


def events(msisdn=None):
    statement = select(ConsentEvent).order_by(ConsentEvent.id)
    if msisdn:
        statement = statement.where(ConsentEvent.msisdn == msisdn)
    return [(e.msisdn, e.action, e.source) for e in db.session.scalars(statement)]


def test_typing_removing_and_importing_each_append_an_event(ctx, sender):
    import io

    optouts.add_opt_outs(db.session, ["20123456", "20123456"], default_country="DK", user=sender)
    optouts.remove_opt_out(db.session, "4520123456", user=sender)
    optouts.import_opt_outs(db.session, io.BytesIO(b"20123456\n"), default_country="DK")

    assert events() == [
        ("4520123456", ConsentAction.OPT_OUT, ConsentSource.TYPED),
        ("4520123456", ConsentAction.OPT_IN, ConsentSource.TYPED),
        ("4520123456", ConsentAction.OPT_OUT, ConsentSource.IMPORT),
    ]
    first = db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).first()
    assert first.user_id == sender.id and first.at is not None
    assert db.session.get(OptOut, "4520123456").source == ConsentSource.IMPORT


def test_consent_events_are_never_changed_or_deleted(ctx):
    optouts.add_opt_outs(db.session, ["20123456"], default_country="DK")
    event = db.session.scalars(select(ConsentEvent)).one()
    event.note = "rewritten"
    with pytest.raises(ValueError, match="never changed"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.scalars(select(ConsentEvent)).one())
    with pytest.raises(ValueError, match="never changed"):
        db.session.flush()
    db.session.rollback()
    assert len(events()) == 1


def test_the_opt_out_set_follows_the_events(ctx):
    msisdn = "4520123456"
    assert optouts.record_consent(db.session, msisdn, ConsentAction.OPT_OUT, ConsentSource.REPLY)
    assert not optouts.record_consent(db.session, msisdn, ConsentAction.OPT_OUT, ConsentSource.LINK)
    db.session.commit()
    assert optouts.opted_out_numbers(db.session) == {msisdn}
    assert optouts.record_consent(db.session, msisdn, ConsentAction.OPT_IN, ConsentSource.REPLY)
    db.session.commit()
    assert optouts.opted_out_numbers(db.session) == set()
    assert [action for _, action, _ in events(msisdn)] == [
        ConsentAction.OPT_OUT,
        ConsentAction.OPT_OUT,
        ConsentAction.OPT_IN,
    ]


def test_the_consent_record_exports_as_csv(ctx, sender):
    optouts.add_opt_outs(db.session, ["20123456"], default_country="DK", user=sender, note="=1+1")
    text = "".join(optouts.consent_csv(db.session))
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == "msisdn,action,source,at_utc,user,campaign,reply,note"
    assert lines[1].startswith("4520123456,opt_out,typed,")
    assert lines[1].endswith(",sender@example.com,,,'=1+1")


# --- Every send path leaves opted-out numbers out ------------------------------------------


def _draft(user, name):
    people = make_list(db.session, f"People {name}", NUMBERS)
    draft = CampaignDraft(name=name, sender="Shop", message="Hi", list_ids=[people.id])
    return campaigns.save_draft(db.session, user, draft)


def _sent_campaign(user, sandbox, name="Sale"):
    return _preview_confirm_send(user, sandbox, _draft(user, name))


def _confirm(user, sandbox, campaign, batch_size=100):
    preview_campaign(
        db.session,
        campaign,
        user,
        gateway_client(sandbox),
        honours_dry_run=True,
        batch_size=batch_size,
    )
    # Copies resend the original's text to its lists on purpose: the duplicate check is ticked.
    campaigns.confirm_campaign(
        db.session, campaign, user, batch_size=batch_size, allow_duplicate=True
    )
    return campaign


def _preview_confirm_send(user, sandbox, campaign):
    _confirm(user, sandbox, campaign)
    assert dispatch.dispatch_campaign(db.session, campaign.id, gateway_client(sandbox)) == "done"
    return campaign


def _received(sandbox, label):
    return sorted(row["msisdn"] for row in sandbox.store.received_for(label=label))


def _opt_out(msisdn=OPTED_OUT):
    optouts.record_consent(db.session, msisdn, ConsentAction.OPT_OUT, ConsentSource.REPLY)
    db.session.commit()


def test_a_campaign_never_reaches_an_opted_out_number(sender, sandbox):
    _opt_out()
    campaign = _sent_campaign(sender, sandbox)
    assert _received(sandbox, campaign.name) == sorted(set(NUMBERS) - {OPTED_OUT})
    assert campaign.excluded_opted_out == 1


def test_a_copy_never_reaches_a_number_opted_out_after_the_original(sender, sandbox):
    original = _sent_campaign(sender, sandbox)
    _opt_out()
    copy = _preview_confirm_send(
        sender, sandbox, campaigns.copy_campaign(db.session, original, sender)
    )
    assert _received(sandbox, copy.name) == sorted(set(NUMBERS) - {OPTED_OUT})


def test_a_follow_up_never_reaches_a_failed_recipient_who_opted_out(sender, sandbox):
    original = _sent_campaign(sender, sandbox)
    db.session.execute(
        update(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == original.id)
        .values(state=RecipientState.FAILED)
    )
    db.session.commit()
    _opt_out()
    follow_up = _preview_confirm_send(
        sender, sandbox, campaigns.create_follow_up(db.session, original, sender)
    )
    assert _received(sandbox, follow_up.name) == sorted(set(NUMBERS) - {OPTED_OUT})


def test_a_test_message_is_never_sent_to_an_opted_out_number(sender, sandbox):
    campaign = _draft(sender, "T")
    _opt_out()
    with pytest.raises(CampaignInvalid, match="opted out"):
        campaigns.send_test(
            db.session,
            campaign,
            sender,
            gateway_client(sandbox),
            numbers=[f"+{NUMBERS[0]}", f"+{OPTED_OUT}"],
            sample_msisdn=None,
            default_country="DK",
        )
    assert sandbox.store.received_for(label="T (test)") == []


def test_a_number_opted_out_after_confirmation_is_not_sent_to(sender, sandbox):
    campaign = _confirm(sender, sandbox, _draft(sender, "Long"), batch_size=2)
    _opt_out(NUMBERS[1])  # a STOP arrives while the campaign waits to go out
    _opt_out(NUMBERS[2])
    _opt_out(NUMBERS[3])  # the whole second batch

    assert dispatch.dispatch_campaign(db.session, campaign.id, gateway_client(sandbox)) == "done"

    assert _received(sandbox, "Long") == [NUMBERS[0]]
    db.session.expire_all()
    states = dict(
        db.session.execute(
            select(CampaignRecipient.msisdn, current_state()).where(
                CampaignRecipient.campaign_id == campaign.id
            )
        ).all()
    )
    assert states == {
        NUMBERS[0]: RecipientState.SENT,
        **{n: RecipientState.CANCELLED for n in NUMBERS[1:]},
    }
