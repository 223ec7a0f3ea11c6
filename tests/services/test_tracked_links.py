"""Tracked links in the message's text, and the codes of the short links."""

from __future__ import annotations

from webapp.services import tracked_links
from webapp.services.clicks import PERSON, agent_of
from webapp.services.optout_links import MAC_CHARS

SECRET = "test-secret"


def test_track_urls_wraps_every_untracked_address_and_leaves_the_sentence_punctuation():
    text = "Sale! https://shop.example/sale. And https://shop.example/a?b=1, bye"
    assert tracked_links.track_urls(text) == (
        "Sale! [track:https://shop.example/sale]. And [track:https://shop.example/a?b=1], bye"
    )


def test_track_urls_leaves_tracked_links_alone_and_adds_utm_parameters():
    text = "[track:https://shop.example/x] then https://shop.example/y?utm_source=old&k=v"
    utm = {"utm_source": "sms", "utm_medium": " ", "utm_campaign": "spring"}
    assert tracked_links.track_urls(text, utm) == (
        "[track:https://shop.example/x] then "
        "[track:https://shop.example/y?k=v&utm_source=sms&utm_campaign=spring]"
    )


def test_a_message_shows_each_link_as_a_short_link_of_the_real_length():
    text = "A [track:https://shop.example/very/long/address?x=%20y%] B [track:https://b.example]"
    sample = tracked_links.sample_text(text, "go.example")
    assert sample == f"A go.example/c/{'x' * 14} B go.example/c/{'x' * 14}"
    assert tracked_links.tagged_text(text, "go.example") == (
        "A go.example/c/%link_code_1% B go.example/c/%link_code_2%"
    )


def test_the_same_address_twice_is_one_link():
    text = "[track:https://a.example] [track:https://b.example] [track:https://a.example]"
    assert tracked_links.targets(text) == ["https://a.example", "https://b.example"]
    assert tracked_links.tagged_text(text, "h").count("%link_code_1%") == 2


def test_codes_are_unique_per_recipient_and_link_of_one_length_and_decode_back():
    codes = {
        tracked_links.link_code(SECRET, recipient, number)
        for recipient in (1, 2, 56_000_000_000)
        for number in (1, 2)
    }
    assert len(codes) == 6 and {len(code) for code in codes} == {tracked_links.CODE_LENGTH}
    code = tracked_links.link_code(SECRET, 123_456, 3)
    assert tracked_links.decode(SECRET, code) == (123_456, 3)
    assert 62**MAC_CHARS >= 2**40


def test_an_altered_or_foreign_code_decodes_to_nothing():
    code = tracked_links.link_code(SECRET, 77, 1)
    other_link = code[:6] + "2" + code[7:]  # same MAC, another link: refused
    last = code[:-1] + ("A" if code[-1] != "A" else "B")
    for bad in (other_link, last, code[:-1], code + "x", "!" * 14, ""):
        assert tracked_links.decode(SECRET, bad) is None
    assert tracked_links.decode("another-secret", code) is None


def test_link_problems_name_what_to_fix():
    assert "PUBLIC_URL" in tracked_links.link_problem("[track:https://a.example]", None)
    many = " ".join(f"[track:https://a.example/{n}]" for n in range(10))
    assert "at most 9" in tracked_links.link_problem(many, "h")
    assert "not a web address" in tracked_links.link_problem("[track:javascript:alert(1)]", "h")
    assert tracked_links.link_problem("[track:https://a.example]", "h") is None
    assert tracked_links.link_problem("no links", None) is None


def test_preview_bots_are_known_by_their_user_agents():
    assert agent_of("facebookexternalhit/1.1 Facebot Twitterbot/1.0") == "Facebook"
    assert agent_of("WhatsApp/2.23.20.0") == "WhatsApp"
    assert agent_of("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)") == "Slack"
    assert agent_of("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Safari/604.1") == PERSON
    assert agent_of(None) == PERSON
