"""What a name may be (a dataset's, task's, class's, method's, source's, ...), wherever it comes from: a plugin, a
config file or a run folder's store; and how a name becomes part of a file name.

A name is data: it is checked once here and escaped for each output format where it is written, never trusted.
"""

from __future__ import annotations

import hashlib
import re

MAX_LENGTH = 100
# characters a cache file name keeps as they are; others become "_" and the name gains a hash
_FILE_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
FILE_STEM_LENGTH = 48


class InvalidName(ValueError):
    """A name that is not printable text of 1 to :data:`MAX_LENGTH` characters."""


def name_problem(name: object) -> str:
    """'' for a valid name, else what is wrong with it (without repeating the name)."""
    if not isinstance(name, str):
        return f"a name must be text, got {type(name).__name__}"
    if not name:
        return "a name must not be empty"
    if len(name) > MAX_LENGTH:
        return f"a name may hold at most {MAX_LENGTH} characters, this one has {len(name)}"
    bad = next((ch for ch in name if not ch.isprintable()), None)
    if bad is not None:
        return f"a name may hold printable characters only, this one holds {bad!r}"
    if name != name.strip():
        return "a name must not begin or end with white space"
    return ""


def check_name(kind: str, name: object) -> str:
    """``name`` when valid; else :class:`InvalidName` saying which ``kind`` of name (e.g. "dataset") is wrong."""
    problem = name_problem(name)
    if problem:
        shown = repr(name[:MAX_LENGTH] + "...") if isinstance(name, str) and len(name) > MAX_LENGTH else repr(name)
        raise InvalidName(f"{kind} name {shown}: {problem}")
    return name


def file_stem(name: str) -> str:
    """``name`` as part of a file name: kept as it is when short and made of letters, digits, ``_``, ``.`` and
    ``-``; otherwise those characters of it, cut to :data:`FILE_STEM_LENGTH`, and a hash of the whole name (two
    names never share a stem, and no stem is too long for a file system or holds a path separator)."""
    safe = _FILE_SAFE.sub("_", name)
    if safe == name and len(name) <= FILE_STEM_LENGTH and not name.startswith("."):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{safe[:FILE_STEM_LENGTH].lstrip('.')}~{digest}"
