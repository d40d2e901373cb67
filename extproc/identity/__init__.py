"""Keystone v3 facade: version documents and tokens that are Arktos bearer tokens (no credential store)."""
