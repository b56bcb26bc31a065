"""A stage-1 table value together with the source offset it has applied (docs/design.md, rule 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar


class JsonState(Protocol):
    def to_json(self) -> Any: ...

    @classmethod
    def from_json(cls, data: Any) -> Self: ...


S = TypeVar("S", bound=JsonState)

NOTHING_APPLIED = -1


@dataclass(frozen=True, slots=True)
class Guarded(Generic[S]):
    value: S
    applied_offset: int

    @classmethod
    def load(cls, stored: Any, state_type: type[S]) -> Guarded[S]:
        if stored is None:
            return cls(state_type(), NOTHING_APPLIED)
        return cls(state_type.from_json(stored["state"]), int(stored["applied_offset"]))

    def advance(self, value: S, offset: int) -> Guarded[S]:
        return Guarded(value, offset)

    def to_json(self) -> dict[str, Any]:
        return {"applied_offset": self.applied_offset, "state": self.value.to_json()}
