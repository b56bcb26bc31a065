"""Retrying a transient failure a few times with exponential backoff and full jitter."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    attempts: int = 4
    base_delay_seconds: float = 0.25
    max_delay_seconds: float = 5.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the failed attempt number `attempt` (1-based)."""
        return random.uniform(0, min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (attempt - 1)))


async def retrying(
    operation: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    is_transient: Callable[[BaseException], bool],
    context: dict[str, Any],
) -> T:
    """Run `operation`; retry it while it fails transiently and attempts remain, then let the error out."""
    attempt = 1
    while True:
        try:
            return await operation()
        except Exception as error:
            if attempt >= backoff.attempts or not is_transient(error):
                raise
            delay = backoff.delay(attempt)
            log.warning(
                "transient failure, retrying",
                extra={**context, "attempt": attempt, "retry_in_seconds": round(delay, 3), "error": repr(error)[:300]},
            )
            await asyncio.sleep(delay)
            attempt += 1
