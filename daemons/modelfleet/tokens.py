"""Tokens from 0600 files, compared in constant time, never logged.

A token file readable by group or others is refused: a token that any local user can read
is not a secret. The token value never appears in an exception message or a log line.
"""

from __future__ import annotations

import hmac
import os
import stat
from pathlib import Path

__all__ = ["TokenError", "read_token_file", "tokens_equal"]


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
