"""OpenStack user ids for Arktos bearer tokens.

Arktos does not tell a client who it is (a short-path namespace GET reveals only the tenant), and the
gateway keeps no user table. A user id derived from the token is stable for as long as the token is, and a
truncated SHA-256 reveals nothing about the token itself.
"""

from __future__ import annotations

import hashlib


def user_id_for_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]
