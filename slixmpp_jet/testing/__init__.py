"""Helpers for running slixmpp-jet against a throwaway local XMPP server (tests, demo)."""
