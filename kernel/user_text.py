"""User-supplied text: what the API accepts, and how it is cleaned before it reaches a prompt.

Two rules, applied at different places:
- `single_line` / `multi_line` (the API's field types `SingleLine`, `MultiLine`) *refuse* text
  that Postgres cannot store or a reader cannot see: C0 and C1 control characters and DEL
  (Unicode category Cc; NUL is refused by Postgres' UTF-8 text type), lone surrogates (Cs: not
  encodable as UTF-8) and the bidirectional embedding, override and isolate controls
  (U+202A-U+202E, U+2066-U+2069; "Trojan Source", CVE-2021-42574), which make stored text read
  differently from what it is. Multi-line text may hold tab, line feed and carriage return.
- `sanitize_user_text` *cleans* accepted text for the prompt (drops every other invisible
  character, folds blanks).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator

_WHITESPACE_RUN = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MULTILINE_WHITESPACE = frozenset("\t\n\r")


def _refuse_invisible(value: str, allowed: frozenset[str]) -> str:
    for position, ch in enumerate(value):
        if ch in allowed:
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            raise ValueError(f"contains the control character U+{ord(ch):04X} at position {position}")
        if category == "Cs":
            raise ValueError(f"contains a lone surrogate U+{ord(ch):04X} at position {position}")
        if ch in BIDI_CONTROLS:
            raise ValueError(f"contains the bidirectional control U+{ord(ch):04X} at position {position}")
    return value


def single_line(value: str) -> str:
    """`value` unchanged if it is one line of storable, visible text; raises ValueError naming
    the first offending character (control characters including tab and newlines, surrogates,
    bidi controls)."""
    return _refuse_invisible(value, frozenset())


def multi_line(value: str) -> str:
    """Like `single_line`, but tab, line feed and carriage return are allowed."""
    return _refuse_invisible(value, MULTILINE_WHITESPACE)


SingleLine = Annotated[str, AfterValidator(single_line)]
"""A str field that refuses control characters, surrogates and bidi controls (a 422 in the API)."""

MultiLine = Annotated[str, AfterValidator(multi_line)]
"""Like SingleLine; tab and line breaks allowed."""


def sanitize_user_text(text: str) -> str:
    """Drop control and format characters (keeping newlines and tabs), fold runs of blanks.

    Unicode categories Cc/Cf/Cs/Co/Cn are removed: they are invisible to a reviewer and only
    serve to smuggle instructions past one.
    """
    kept = "".join(ch for ch in text if ch in "\n\t" or not unicodedata.category(ch).startswith("C"))
    kept = _WHITESPACE_RUN.sub(" ", kept.replace("\r\n", "\n"))
    return _BLANK_LINES.sub("\n\n", kept).strip()
