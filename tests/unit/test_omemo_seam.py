"""The contract slixmpp-jet relies on where it goes below slixmpp-omemo's public API.

Everything non-public lives in ``slixmpp_jet.jet.omemo_seam``; these tests say what it must
still do. A failure here after an upgrade of slixmpp-omemo or python-omemo means the seam (and
the pins in pyproject.toml) need revisiting, not that the test is wrong.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import omemo
import pytest
import slixmpp
from slixmpp_omemo.base_session_manager import BaseSessionManager

from slixmpp_jet.jet import omemo_plugin
from slixmpp_jet.jet.omemo_seam import TESTED_SLIXMPP_OMEMO, session_manager_class
from slixmpp_jet.jet.omemo_sessions import ConcurrencySafeSessions, jet_session_manager_class

XMPP_SIDE = (
    "_upload_bundle",
    "_download_bundle",
    "_delete_bundle",
    "_upload_device_list",
    "_download_device_list",
    "_send_message",
)
"""What slixmpp-omemo's class does for python-omemo over XMPP, and we do not."""


def offline_plugin(**config):
    client = slixmpp.ClientXMPP("alice@localhost/jet", "password")
    client.register_plugin("xep_0384", config, module=omemo_plugin)
    return client, client.plugin["xep_0384"]


def test_the_installed_slixmpp_omemo_is_the_tested_series():
    assert version("slixmpp-omemo").startswith(f"{TESTED_SLIXMPP_OMEMO}."), (
        "slixmpp_jet.jet.omemo_seam was tested with slixmpp-omemo "
        f"{TESTED_SLIXMPP_OMEMO}; check the seam before widening the pin"
    )


@pytest.mark.asyncio
async def test_the_session_manager_class_does_the_xmpp_side():
    client, plugin = offline_plugin()
    manager_class = session_manager_class(client, plugin)

    assert issubclass(manager_class, BaseSessionManager)
    assert not inspect.isabstract(manager_class)
    for name in XMPP_SIDE:
        assert name in vars(manager_class), f"slixmpp-omemo no longer implements {name}"


@pytest.mark.asyncio
@pytest.mark.parametrize(("trust", "blind"), [("blind", True), ("manual", False)])
async def test_the_session_manager_asks_the_plugin_about_trust(trust, blind):
    client, plugin = offline_plugin(trust=trust)
    manager = jet_session_manager_class(client, plugin, ())()

    assert manager._btbv_enabled is blind


def test_create_takes_the_settings_we_pass():
    parameters = inspect.signature(omemo.SessionManager.create).parameters
    for name in (
        "signed_pre_key_rotation_period",
        "pre_key_refill_threshold",
        "initial_own_label",
        "undecided_trust_level_name",
    ):
        assert name in parameters


@pytest.mark.parametrize("method", ["encrypt", "decrypt", "replace_sessions"])
def test_serialised_methods_keep_python_omemo_signatures(method):
    ours = inspect.signature(getattr(ConcurrencySafeSessions, method))
    theirs = inspect.signature(getattr(omemo.SessionManager, method))
    assert list(ours.parameters) == list(theirs.parameters)
    assert [p.default for p in ours.parameters.values()] == [
        p.default for p in theirs.parameters.values()
    ]


@pytest.mark.asyncio
async def test_our_serialisation_comes_before_slixmpp_omemos_class():
    client, plugin = offline_plugin()
    manager_class = jet_session_manager_class(client, plugin, ())
    order = manager_class.__mro__

    assert order.index(ConcurrencySafeSessions) < order.index(BaseSessionManager)
    assert manager_class.encrypt is ConcurrencySafeSessions.encrypt
