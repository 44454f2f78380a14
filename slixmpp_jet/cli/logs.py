"""What the command line logs: quiet by default, ``-v`` for our own steps, ``--debug`` (or
``-vv``) for every stanza, with secrets and file contents cut out of what is logged."""

from __future__ import annotations

import logging
import re

_SECRET_ELEMENTS = ("data", "key", "payload", "openpgp", "auth", "response", "challenge", "success")
_SECRET_TEXT = re.compile(
    r"(?P<open><(?P<tag>(?:\w+:)?(?:" + "|".join(_SECRET_ELEMENTS) + r"))\b[^<>]*?(?<!/)>)"
    r"(?P<text>[^<]+)"
    r"(?P<close></(?P=tag)>)"
)

_SECRET_VALUES = re.compile(
    r"(?P<open>\bpwd=(?P<quote>['\"]))(?P<text>[^'\"]*)(?P<close>(?P=quote))"  # ICE, in XML
    r"|(?P<sdp_open>a=ice-pwd:)(?P<sdp_text>\S+)()"  # ICE, in SDP
)


def redact(text: str) -> str:
    """``text`` (logged XML) with the contents of key, payload, file-data and SASL elements,
    and ICE passwords, replaced by their length."""

    def shorten(match: re.Match[str]) -> str:
        return f"{match['open']}[{len(match['text'])} chars]{match['close']}"

    def shorten_value(match: re.Match[str]) -> str:
        if match["open"] is not None:
            return shorten(match)
        return f"{match['sdp_open']}[{len(match['sdp_text'])} chars]"

    return _SECRET_VALUES.sub(shorten_value, _SECRET_TEXT.sub(shorten, text))


class _Redacting(logging.Filter):
    """Applies :func:`redact` to every record of the loggers it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = redact(record.getMessage())
        except Exception:  # a malformed record: never raise into the code that logged it
            record.msg = f"[a {record.levelname} record from {record.name} that did not format]"
        record.args = None
        return True


def configure(verbose: int, debug: bool) -> None:
    """Quiet: our warnings only. ``-v``: our own steps too. ``--debug``/``-vv``: every stanza
    (redacted) and every library's debug log."""
    everything = debug or verbose >= 2
    root_level = logging.DEBUG if everything else logging.WARNING if verbose else logging.ERROR
    logging.basicConfig(level=root_level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("slixmpp_jet").setLevel(
        logging.DEBUG if verbose or debug else logging.WARNING
    )
    slixmpp = logging.getLogger("slixmpp")
    if everything:
        redacting = _Redacting()
        for handler in logging.getLogger().handlers:
            handler.addFilter(redacting)
    elif not verbose:  # slixmpp logs failures the command line reports in its own words
        slixmpp.setLevel(logging.CRITICAL)
    else:
        slixmpp.setLevel(logging.WARNING)
