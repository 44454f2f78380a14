"""The progress line fits the terminal: the name is shortened first, then fields dropped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from slixmpp_jet.cli.progress import fit, shorten

FIELDS = ["[####------] 40%", "4.0 MiB of 10.0 MiB", "3.2 MiB/s", "ETA 0:02"]


def test_a_long_name_is_shortened_in_the_middle_and_everything_else_stays() -> None:
    line = fit(["a" * 60 + "-report-2026.pdf", *FIELDS], 79)

    assert len(line) == 79
    assert "…" in line and line.split("  ")[0].endswith("2026.pdf")
    assert line.endswith("  ".join(FIELDS))


def test_a_narrow_terminal_drops_the_last_fields_before_the_name_goes_below_8() -> None:
    line = fit(["holiday-photos.tar", *FIELDS], 40)

    assert len(line) <= 40
    assert "ETA" not in line and "MiB/s" not in line
    assert line.startswith("holiday-photos.tar")


def test_shorten_keeps_both_ends() -> None:
    assert shorten("abcdefghij", 5) == "ab…ij"
    assert shorten("short", 10) == "short"


@given(
    name=st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), min_size=1),
    width=st.integers(min_value=1, max_value=200),
)
def test_the_line_never_exceeds_the_width(name: str, width: int) -> None:
    assert len(fit([name, *FIELDS], width)) <= width
