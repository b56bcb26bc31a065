"""Where an events record came from: the S3 file version and the element's position, from the bridge's headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SourcePosition:
    key: str
    version: str
    position: int

    @property
    def ledger_key(self) -> str:
        return f"{self.key}@{self.version}"

    @classmethod
    def from_headers(cls, headers: Any) -> SourcePosition:
        """Raises KeyError or ValueError for a record the bridge did not publish."""
        pairs = headers.items() if isinstance(headers, dict) else headers or ()
        values = {name: bytes(value).decode() for name, value in pairs}
        return cls(values["source_key"], values["source_version"], int(values["position"]))

    @classmethod
    def of_record(cls, headers: Any) -> SourcePosition | None:
        try:
            return cls.from_headers(headers)
        except (KeyError, ValueError):
            return None
