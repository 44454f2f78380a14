"""Hostile file names from the network become one safe component inside the download directory."""

from __future__ import annotations

import os
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slixmpp_jet.file_transfer.names import MAX_NAME_BYTES, safe_filename, unique_destination

BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{device}{digit}" for device in ("COM", "LPT") for digit in "123456789\u00b9\u00b2\u00b3"
}


def assert_single_safe_component(result: str) -> None:
    """Everything a name from safe_filename must satisfy, whatever went in."""
    assert result
    assert "/" not in result and "\\" not in result and os.sep not in result
    assert result not in (".", "..")
    assert result == result.strip(" .")
    assert not any(char in '<>:"|?*' for char in result)
    assert not any(
        unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in BIDI_CONTROLS
        for char in result
    )
    assert len(result.encode("utf-8")) <= MAX_NAME_BYTES
    assert result.split(".", 1)[0].rstrip(" ").upper() not in WINDOWS_DEVICES
    assert not result.startswith("-"), "a name must not read as a command-line option"
    assert Path(result).name == result
    assert os.path.basename(result) == result


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("C:\\x", "x"),
        ("C:x", "C_x"),
        ("\\\\server\\share\\evil.exe", "evil.exe"),
        ("dir/", "dir"),
        ("a/..", "a"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("LPT1.log", "_LPT1.log"),
        ("com9", "_com9"),
        ("Aux.tar.gz", "_Aux.tar.gz"),
        ("CON .txt", "_CON .txt"),
        ("conout$", "_conout$"),
        ("COM\u00b9.txt", "_COM\u00b9.txt"),
        ("COM10", "COM10"),
        ("-rf --no-preserve-root", "_-rf --no-preserve-root"),
        ("--help", "_--help"),
        ("../-n", "_-n"),
        ("a-b.txt", "a-b.txt"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("nullable", "nullable"),
        ("a\x00b", "ab"),
        ("tab\there\nnew\rline", "tabherenewline"),
        ("del\x7fc1\x85\x9f.txt", "delc1.txt"),
        ("\u202egnp.exe", "gnp.exe"),
        ("photo\u2066\u2069\u200f.jpg", "photo.jpg"),
        ("\ufeffbom.txt", "bom.txt"),
        ("para\u2028graph\u2029.txt", "paragraph.txt"),
        ("a:b*c?.txt", "a_b_c_.txt"),
        ('<"x">|y', "__x___y"),
        ("ads.txt:hidden", "ads.txt_hidden"),
        ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),
        (".bashrc", "bashrc"),
        ("...hidden...", "hidden"),
        ("  spaced  .txt  ", "spaced  .txt"),
        ("name.", "name"),
        ("report.pdf", "report.pdf"),
        ("résumé final (v2).pdf", "résumé final (v2).pdf"),
        ("日本語のファイル.txt", "日本語のファイル.txt"),
    ],
)
def test_hostile_names_become_the_expected_single_component(hostile, expected):
    result = safe_filename(hostile)
    assert result == expected
    assert_single_safe_component(result)


@pytest.mark.parametrize(
    "hostile",
    [
        None,
        "",
        ".",
        "..",
        "...",
        "/",
        "\\",
        "../..",
        "./",
        " ",
        " . . ",
        "\x00",
        "\u202e",
        "\x00/..",
    ],
)
def test_names_with_nothing_usable_fall_back(hostile):
    assert safe_filename(hostile) == "file"
    assert safe_filename(hostile, fallback="download.bin") == "download.bin"


def test_a_hostile_fallback_is_cleaned_too():
    assert safe_filename("..", fallback="../../etc/shadow") == "shadow"
    assert safe_filename(None, fallback="CON") == "_CON"
    assert safe_filename("..", fallback="..") == "file"


def test_ten_thousand_characters_are_capped():
    result = safe_filename("x" * 10_000)
    assert result == "x" * MAX_NAME_BYTES


def test_capping_keeps_the_extension():
    result = safe_filename("x" * 10_000 + ".pdf")
    assert result == "x" * (MAX_NAME_BYTES - 4) + ".pdf"


def test_capping_never_splits_a_multibyte_character():
    result = safe_filename("日" * 300 + ".txt")
    assert result.endswith(".txt")
    assert set(result[:-4]) == {"日"}
    assert len(result.encode("utf-8")) == MAX_NAME_BYTES - 1  # 196 bytes hold 65 three-byte ones


def test_an_absurdly_long_extension_is_not_kept_whole():
    result = safe_filename("a." + "b" * 10_000)
    assert result == ("a." + "b" * 10_000)[:MAX_NAME_BYTES]


def test_a_capped_name_does_not_end_in_a_dot_or_space():
    result = safe_filename("a" * (MAX_NAME_BYTES - 1) + " " * 50 + "b")
    assert result == "a" * (MAX_NAME_BYTES - 1)


HOSTILE_FRAGMENTS = st.sampled_from(
    [
        *'/\\. :*?<>|"\x00\x1f\x7f\x85\u202e\u2066\u200e\u2028\ufeff\uff0fé\u0301',
        *("\udc80", "CON", "lpt1", "..", "日", ".txt", "x" * 150, "é" * 120),
    ]
)
ANY_TEXT = st.lists(st.one_of(st.text(max_size=20), HOSTILE_FRAGMENTS), max_size=30).map("".join)


@given(ANY_TEXT)
def test_any_string_becomes_a_single_safe_component(text):
    assert_single_safe_component(safe_filename(text))


@given(ANY_TEXT)
def test_safe_names_are_accepted_by_the_real_file_system(text):
    name = safe_filename(text)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_bytes(b"x")
        assert os.listdir(directory) == [name]


def test_destination_of_a_new_name_is_directly_inside(tmp_path):
    assert unique_destination(tmp_path, "report.pdf") == tmp_path.resolve() / "report.pdf"


@pytest.mark.parametrize(
    "hostile", ["../../etc/passwd", "/etc/passwd", "..\\..\\win.ini", "..", "", "\x00"]
)
def test_hostile_destination_stays_inside(tmp_path, hostile):
    destination = unique_destination(tmp_path, hostile)
    assert destination.parent == tmp_path.resolve()
    assert not destination.exists()


def test_existing_names_get_a_number_before_the_extension(tmp_path):
    (tmp_path / "report.pdf").write_bytes(b"old")
    assert unique_destination(tmp_path, "report.pdf").name == "report (1).pdf"
    (tmp_path / "report (1).pdf").write_bytes(b"old")
    assert unique_destination(tmp_path, "report.pdf").name == "report (2).pdf"
    (tmp_path / "README").write_bytes(b"old")
    assert unique_destination(tmp_path, "README").name == "README (1)"
    (tmp_path / "archive.tar.gz").write_bytes(b"old")
    assert unique_destination(tmp_path, "archive.tar.gz").name == "archive.tar (1).gz"


def test_overwrite_returns_the_existing_file(tmp_path):
    (tmp_path / "report.pdf").write_bytes(b"old")
    assert unique_destination(tmp_path, "report.pdf", overwrite=True) == (
        tmp_path.resolve() / "report.pdf"
    )


def test_overwrite_never_picks_a_directory(tmp_path):
    (tmp_path / "photos").mkdir()
    assert unique_destination(tmp_path, "photos", overwrite=True).name == "photos (1)"


def test_symbolic_links_are_never_chosen_even_dangling_or_with_overwrite(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "victim.txt"
    target.write_bytes(b"precious")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "victim.txt").symlink_to(target)
    (inbox / "dangling.txt").symlink_to(outside / "missing.txt")
    assert unique_destination(inbox, "victim.txt", overwrite=True).name == "victim (1).txt"
    assert unique_destination(inbox, "dangling.txt").name == "dangling (1).txt"


def test_destination_is_inside_the_resolved_directory_given_a_symlinked_or_dotted_path(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(real)
    assert unique_destination(alias, "a.txt") == real.resolve() / "a.txt"
    assert unique_destination(real / ".." / "real", "../a.txt") == real.resolve() / "a.txt"


def test_numbered_long_names_still_fit_the_cap(tmp_path):
    name = safe_filename("x" * 10_000 + ".txt")
    (tmp_path / name).write_bytes(b"old")
    numbered = unique_destination(tmp_path, name)
    assert numbered.name.endswith(" (1).txt")
    assert len(numbered.name.encode("utf-8")) <= MAX_NAME_BYTES
    numbered.write_bytes(b"new")


@settings(max_examples=50)
@given(names=st.lists(ANY_TEXT, min_size=1, max_size=8), overwrite=st.booleans())
def test_destinations_stay_inside_and_never_clobber_unless_told(names, overwrite):
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory).resolve()
        for name in names:
            destination = unique_destination(Path(directory), name, overwrite=overwrite)
            assert destination.parent == base
            assert_single_safe_component(destination.name)
            if overwrite:
                assert not destination.exists() or destination.is_file()
            else:
                assert not os.path.lexists(destination)
            destination.write_bytes(b"x")
        assert len(os.listdir(base)) <= len(names)
        if not overwrite:
            assert len(os.listdir(base)) == len(names)
