"""The README's code, taken from the README itself: every Python snippet compiles, and the
receiving bot runs as written (only its account and server are swapped for the test's)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from slixmpp_jet.testing.demo import cli_environment, write_random_file

README = Path(__file__).resolve().parents[2] / "README.md"
SETTLE_TIMEOUT = 60


def snippets(language: str) -> list[tuple[str, str]]:
    """(the heading above it, the code) for every fenced block in ``language``."""
    text = README.read_text()
    found = []
    for match in re.finditer(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        headings = re.findall(r"^#+ (.+)$", text[: match.start()], re.MULTILINE)
        found.append((headings[-1] if headings else "", match.group(1)))
    return found


@pytest.mark.parametrize("code", [code for _, code in snippets("python")])
def test_every_python_snippet_compiles(code: str) -> None:
    compile(code, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


@pytest.mark.xmpp
def test_the_receiving_bot_runs_as_written(prosody, accounts, cli, tmp_path) -> None:
    [code] = [code for heading, code in snippets("python") if heading == "A receiving bot"]
    alice, bot = accounts(2)
    on_test_server = code.replace(
        'slixmpp.ClientXMPP("bot@example.org/files", "secret")',
        f'slixmpp.ClientXMPP("{bot.jid}/files", "{bot.password}", '
        'plugin_config={"feature_mechanisms": {"unencrypted_scram": True}})\n'
        "bot.enable_direct_tls = False\nbot.enable_plaintext = True",
    ).replace("bot.connect()", f'bot.connect("127.0.0.1", {prosody.c2s_port})')
    assert on_test_server.count(bot.jid) == 1 and str(prosody.c2s_port) in on_test_server
    (tmp_path / "bot.py").write_text(on_test_server)
    source = tmp_path / "report.bin"
    write_random_file(source, 50_000)
    running = subprocess.Popen(
        [sys.executable, "bot.py"], cwd=tmp_path, env=cli_environment(bot),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not (tmp_path / "bot-omemo.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)  # until its OMEMO identity exists (and is being published)
        for _ in range(10):  # its OMEMO devices may not be published yet: ask again
            sent = cli(alice, "send", "--to", f"{bot.jid}/files", "--encrypt", "omemo",
                       str(source), timeout=SETTLE_TIMEOUT)  # fmt: skip
            if "cannot receive OMEMO" not in sent.stderr:
                break
            time.sleep(1)
    finally:
        running.terminate()
        out, err = running.communicate(timeout=30)

    assert sent.status == 0, sent.stderr + err
    assert f"saved {tmp_path / 'downloads' / 'report.bin'}" in out, out + err
    assert (tmp_path / "downloads" / "report.bin").read_bytes() == source.read_bytes()
