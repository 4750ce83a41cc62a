"""Why an experiment is skipped, as a record: what stops it (its kind and name) and the message shown."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

TARGET, SOURCE, LEAK, LEAK_AUDIT = "target", "source", "leak", "leak audit"


@dataclass(frozen=True)
class SkipReason:
    """``kind`` is what stops the experiment (``target``, ``source``, ``leak``, ``leak audit``), ``name`` the
    target or source it names ('' when none), ``message`` the rest. ``str()`` is the text shown and kept:
    ``"kind name: message"``, or the message alone when no name is given."""

    kind: str
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.message}" if self.name else self.message


def count_by_reason(reasons: Iterable[SkipReason]) -> list[tuple[int, SkipReason]]:
    """Each distinct reason with how many experiments it skips, the most frequent first (then by text)."""
    return sorted(((n, r) for r, n in Counter(reasons).items()), key=lambda item: (-item[0], str(item[1])))
