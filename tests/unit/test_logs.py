"""What --debug logs: stanzas with keys, payloads, file data and SASL exchanges cut out."""

from __future__ import annotations

import logging

from slixmpp_jet.cli.logs import _Redacting, redact


def test_secret_contents_are_replaced_by_their_length() -> None:
    logged = (
        "<iq><data xmlns='http://jabber.org/protocol/ibb' seq='0' sid='s'>SECRETDATA</data></iq>"
        "<encrypted><header sid='1'><key rid='2' prekey='true'>KEYBYTES</key><iv>IV</iv>"
        "</header><payload>PAYLOAD</payload></encrypted>"
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AHBhc3M=</auth>"
        "<openpgp xmlns='urn:xmpp:openpgp:0'>PGPBLOB</openpgp><data/><name>kept.txt</name>"
    )

    shown = redact(logged)

    for secret in ("SECRETDATA", "KEYBYTES", "PAYLOAD", "AHBhc3M=", "PGPBLOB"):
        assert secret not in shown
    assert "<data xmlns='http://jabber.org/protocol/ibb' seq='0' sid='s'>[10 chars]</data>" in shown
    assert "<iv>IV</iv>" in shown and "<name>kept.txt</name>" in shown and "<data/>" in shown


def test_a_record_that_does_not_format_is_neither_raised_nor_shown() -> None:
    record = logging.LogRecord("slixmpp", logging.DEBUG, "x", 1, "SEND: %s %s", ("secret",), None)

    assert _Redacting().filter(record)
    assert "secret" not in record.getMessage()
    assert "did not format" in record.getMessage()


def test_ice_passwords_are_replaced_by_their_length() -> None:
    logged = (
        "<transport xmlns='urn:xmpp:jingle:transports:webrtc-datachannel:1' ufrag='u1' "
        'pwd=\'ICEPASSWORD1\'/><transport ufrag="u2" pwd="ICEPASSWORD2"/>'
        "\na=ice-ufrag:u3\na=ice-pwd:ICEPASSWORD3\n"
    )

    shown = redact(logged)

    for secret in ("ICEPASSWORD1", "ICEPASSWORD2", "ICEPASSWORD3"):
        assert secret not in shown
    assert "ufrag='u1' pwd='[12 chars]'/>" in shown
    assert 'pwd="[12 chars]"' in shown
    assert "a=ice-ufrag:u3\na=ice-pwd:[12 chars]" in shown
