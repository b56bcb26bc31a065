"""Which dead letters an operator means, and how many there are of each kind. Pure.

Redrive markers are bookkeeping, not refusals: a selection leaves them out unless it asks for their reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from openpool.dlq.stored import REDRIVEN, StoredLetter


class CountBy(StrEnum):
    REASON = "reason"
    STAGE = "stage"
    SOURCE = "source"


@dataclass(frozen=True, slots=True)
class Selection:
    reason: str | None = None
    stage: str | None = None
    source_prefix: str | None = None

    def matches(self, letter: StoredLetter) -> bool:
        if letter.is_marker and self.reason != REDRIVEN:
            return False
        return (
            (self.reason is None or letter.reason == self.reason)
            and (self.stage is None or letter.stage == self.stage)
            and (self.source_prefix is None or letter.source_key.startswith(self.source_prefix))
        )


def select(letters: Iterable[StoredLetter], selection: Selection, limit: int | None = None) -> list[StoredLetter]:
    chosen = [letter for letter in letters if selection.matches(letter)]
    return chosen if limit is None else chosen[:limit]


def count_by(letters: Iterable[StoredLetter], by: CountBy) -> Counter[str]:
    def group(letter: StoredLetter) -> str:
        if by is CountBy.REASON:
            return letter.reason
        if by is CountBy.STAGE:
            return letter.stage
        return letter.source_key

    return Counter(group(letter) for letter in letters)
