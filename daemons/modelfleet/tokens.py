"""Tokens from 0600 files, compared in constant time, never logged.

A token file readable by group or others is refused: a token that any local user can read
is not a secret. The token value never appears in an exception message or a log line.
"""

from __future__ import annotations

import hmac
import os
import stat
from pathlib import Path

__all__ = [
    "NODE_TOKEN_PREFIX",
    "TokenError",
    "new_secret",
    "node_token",
    "node_token_identity",
    "read_token_file",
    "tokens_equal",
]


class TokenError(ValueError):
    """A token file that is missing, empty or too open."""


def read_token_file(path: str | os.PathLike[str], *, check_mode: bool = True) -> str:
    """Read a token from ``path``; the file must be a regular file with mode 0600 or 0400."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise TokenError(f"token file {p} does not exist") from None
    except PermissionError:
        raise TokenError(f"token file {p} is not readable") from None
    if not stat.S_ISREG(st.st_mode):
        raise TokenError(f"token file {p} is not a regular file")
    if check_mode and st.st_mode & 0o077:
        raise TokenError(
            f"token file {p} has mode {stat.S_IMODE(st.st_mode):04o}; it must be 0600 or 0400"
        )
    value = p.read_text(encoding="utf-8").strip()
    if len(value) < 16:
        raise TokenError(f"token file {p} holds no token of at least 16 characters")
    return value


def tokens_equal(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; False when either side is missing."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# -- per-node tokens -------------------------------------------------------------------------
#
# Every node has its own token, derived from the fleet's node key (which only the master
# holds): ``node_token(key, hostname)``. The node proves who it is with it when it registers,
# and the master authenticates to that node with the same token, which it sends only to the
# address the node registered from. A node knows its own token and nobody else's: a leaked or
# compromised node can neither register as another node nor call another node's admin API.
# HMAC-SHA256 is a PRF keyed by the node key; the prefix names the scheme so that a later
# scheme can be told apart.

NODE_TOKEN_PREFIX = "mfn1."  # noqa: S105 - a format marker, not a secret
_NODE_CONTEXT = b"modelfleet node token v1\x00"


def node_token(key: str, hostname: str) -> str:
    """The token of node ``hostname`` under the fleet's node ``key``:
    ``mfn1.<hostname>.<mac>``. It names the node it belongs to, so whoever checks it knows
    the claimed identity before reading any body; only the MAC is secret."""
    import base64
    import hashlib

    digest = hmac.new(key.encode(), _NODE_CONTEXT + hostname.encode(), hashlib.sha256).digest()
    mac = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return f"{NODE_TOKEN_PREFIX}{hostname}.{mac}"


def node_token_identity(key: str, token: str | None) -> str | None:
    """The hostname a node token was issued to under ``key``; None if it was not."""
    if not token or not token.startswith(NODE_TOKEN_PREFIX):
        return None
    hostname, dot, _mac = token[len(NODE_TOKEN_PREFIX) :].rpartition(".")
    if not dot or not hostname:
        return None
    return hostname if tokens_equal(token, node_token(key, hostname)) else None


def new_secret() -> str:
    """A fresh random token or key (256 bits, URL-safe)."""
    import secrets

    return secrets.token_urlsafe(32)
