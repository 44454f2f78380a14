"""The package version, one place for ``pyproject.toml`` and ``slixmpp_jet.__version__``."""

__version__ = "0.2.0"
