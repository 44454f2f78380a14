"""The package as people get it: a wheel and an sdist built from this tree, the wheel installed
into a fresh virtual environment (without its dependencies: nothing is downloaded)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from slixmpp_jet import __version__

ROOT = Path(__file__).resolve().parents[2]
REFERRED_TO = ("LICENSE", "CHANGELOG.md", "README.md", "tox.ini", "tests/conftest.py",
               "examples/file_server.py", "benchmarks/throughput.py", ".ci/run")  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """(wheel, sdist), built without network from this source tree."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    return wheel, sdist


def test_the_sdist_holds_what_the_readme_refers_to(built) -> None:
    _, sdist = built
    with tarfile.open(sdist) as archive:
        names = {name.partition("/")[2] for name in archive.getnames()}
    assert set(REFERRED_TO) <= names, set(REFERRED_TO) - names


def test_the_wheel_carries_version_license_classifiers_and_the_command(built) -> None:
    wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"slixmpp_jet-{__version__}.dist-info"
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert f"{info}/licenses/LICENSE" in names
    assert "slixmpp_jet/py.typed" in names
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "MIT"
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    assert "slixmpp-jet = slixmpp_jet.cli:main" in entry_points


def test_the_wheel_installs_into_a_fresh_environment(built, tmp_path) -> None:
    wheel, _ = built
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=True)
    subprocess.run(
        [fresh / "bin" / "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    show = subprocess.run(
        [fresh / "bin" / "pip", "show", "-f", "slixmpp-jet"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert f"Version: {__version__}" in show
    assert (fresh / "bin" / "slixmpp-jet").exists()
    assert "slixmpp_jet/cli/__init__.py" in show
