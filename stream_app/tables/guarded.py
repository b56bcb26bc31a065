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

    @classmethod
    def load_cached(cls, stored: Any, state_type: type[S], cache: dict[str, Guarded[S]], key: str) -> Guarded[S]:
        """`load`, reusing the last decoded value while the stored one still carries its offset.

        Every write advances the applied offset, so an equal offset means an equal value; decoding a state
        re-validates every event it holds, which dominated stage 1's time.
        """
        cached = cache.get(key)
        if cached is not None and stored is not None and int(stored["applied_offset"]) == cached.applied_offset:
            return cached
        loaded = cls.load(stored, state_type)
        cache[key] = loaded
        return loaded

    def advance(self, value: S, offset: int) -> Guarded[S]:
        return Guarded(value, offset)

    def to_json(self) -> dict[str, Any]:
        return {"applied_offset": self.applied_offset, "state": self.value.to_json()}
