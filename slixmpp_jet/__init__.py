"""slixmpp-jet: end-to-end encrypted Jingle file transfer for slixmpp."""
