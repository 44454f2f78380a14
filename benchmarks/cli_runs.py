"""Wall time and CPU of one ``slixmpp-jet send`` run, first run and repeated runs.

Run: ``python benchmarks/cli_runs.py [--runs 5]`` (needs Debian's prosody). Bob runs ``receive``
in the background; alice runs ``send`` of a 64 KiB file ``--runs`` times with the default OMEMO
store (in a temporary ``XDG_DATA_HOME``), then as many times with ``--omemo-store`` pointing to a
new file each time (a new device per run, as every run was before the default store). Each line
gives the wall time and the CPU seconds (user + system) of the process, median over the runs.
Nothing is asserted: speed is measured here, never in the test suite.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from slixmpp_jet.testing.demo import (
    RunningProcess,
    cli_arguments,
    cli_command,
    cli_environment,
    write_random_file,
)
from slixmpp_jet.testing.prosody import ProsodyServer


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(command: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds of one run (it must succeed)."""
    cpu_before, start = children_cpu(), time.perf_counter()
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu_before
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{finished.stderr}")
    return wall, cpu


def report(label: str, samples: list[tuple[float, float]]) -> None:
    wall = statistics.median(wall for wall, _ in samples)
    cpu = statistics.median(cpu for _, cpu in samples)
    print(f"{label:<46} wall {wall:5.2f} s   CPU {cpu:5.2f} s   ({len(samples)} runs)")


def main(runs: int) -> None:
    with ProsodyServer() as server, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        alice, bob = server.register("alice"), server.register("bob")
        server.befriend(alice, bob)
        source = work / "payload.bin"
        write_random_file(source, 64 * 1024)
        receiver = RunningProcess(
            cli_command(
                "receive", *cli_arguments(server, bob, "r"), "--mkdir", "--dir", str(work / "in")
            ),
            cli_environment(bob, work / "bob-data"),
        )
        receiver.wait_ready()
        alice_environment = cli_environment(alice, work / "alice-data")

        def send(*extra: str) -> tuple[float, float]:
            arguments = cli_arguments(server, alice, "s")
            line = cli_command("send", *arguments, "--to", f"{bob.jid}/r", *extra, str(source))
            return timed_run(line, alice_environment)

        first = [send()]
        again = [send() for _ in range(runs)]
        fresh = [send("--omemo-store", str(work / f"new-{n}.json")) for n in range(runs)]
        receiver.stop()
        report("send, first run (default store made)", first)
        report("send, later runs (default store reused)", again)
        report("send, a new OMEMO device every run", fresh)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs of each kind")
    main(parser.parse_args().runs)
