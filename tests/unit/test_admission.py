"""The peer gate's building blocks: session counting and the ready-made policies."""

from __future__ import annotations

import slixmpp

from slixmpp_jet.file_transfer.admission import SessionCounter, only_from, subscribed_contacts


def test_a_session_counts_per_account_until_released_once() -> None:
    counter = SessionCounter()
    first = counter.hold("alice@example.org/phone")
    counter.hold("Alice@example.org/desk")

    assert counter.of("alice@example.org/other") == 2
    assert counter.refusal("alice@example.org/x", per_account=2, total=None) == (
        "too many sessions at once from this account (at most 2)"
    )
    assert counter.refusal("bob@example.org/x", per_account=2, total=2) == (
        "too many sessions at once (at most 2)"
    )
    assert counter.refusal("bob@example.org/x", per_account=2, total=3) is None

    first()
    first()  # a second release changes nothing
    assert counter.of("alice@example.org/desk") == 1 and counter.total == 1
    assert counter.refusal("alice@example.org/x", per_account=2, total=2) is None


def test_no_limit_means_none() -> None:
    counter = SessionCounter()
    for _ in range(1000):
        counter.hold("alice@example.org/phone")
    assert counter.refusal("alice@example.org/phone", per_account=None, total=None) is None


def test_only_from_admits_accounts_and_exact_clients() -> None:
    allow = only_from(["alice@example.org", "bob@example.org/desk"])

    assert allow("alice@example.org/anything")
    assert allow("bob@example.org/desk")
    assert not allow("bob@example.org/Desk")  # resources are case-sensitive
    assert not allow("bob@example.org/phone")
    assert not allow("mallory@example.org/desk")


def test_subscribed_contacts_need_a_subscription_either_way() -> None:
    roster = slixmpp.ClientXMPP("bob@x/r", "unused").client_roster  # slixmpp's own roster
    roster.add("a@x", afrom=True, ato=True)
    roster.add("b@x", ato=True)
    roster.add("c@x", afrom=True)
    roster.add("d@x", pending_out=True)  # asked, not yet approved
    allow = subscribed_contacts(roster)

    assert [allow(f"{who}@x/r") for who in "abcde"] == [True, True, True, False, False]
    roster["d@x"]["to"] = True  # approved later: the roster is read at each offer
    assert allow("d@x/r")
