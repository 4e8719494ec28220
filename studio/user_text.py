"""Sanitising user-supplied text before it reaches a prompt."""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE_RUN = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def sanitize_user_text(text: str) -> str:
    """Drop control and format characters (keeping newlines and tabs), fold runs of blanks.

    Unicode categories Cc/Cf/Cs/Co/Cn are removed: they are invisible to a reviewer and only
    serve to smuggle instructions past one.
    """
    kept = "".join(ch for ch in text if ch in "\n\t" or not unicodedata.category(ch).startswith("C"))
    kept = _WHITESPACE_RUN.sub(" ", kept.replace("\r\n", "\n"))
    return _BLANK_LINES.sub("\n\n", kept).strip()
