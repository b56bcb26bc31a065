"""Fetch a few items ahead while the caller handles them one by one, in their original order."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def prefetched(
    items: Iterable[T], fetch: Callable[[T], Awaitable[R]], *, ahead: int
) -> AsyncGenerator[tuple[T, R], None]:
    """Yield `(item, await fetch(item))` in item order with at most `ahead` fetches running.

    Use it inside `contextlib.aclosing` so that fetches still running are cancelled when the caller stops.
    """
    running: deque[tuple[T, asyncio.Task[R]]] = deque()
    pending = deque(items)

    async def call(item: T) -> R:
        return await fetch(item)

    def refill() -> None:
        while pending and len(running) < max(1, ahead):
            item = pending.popleft()
            running.append((item, asyncio.create_task(call(item))))

    try:
        refill()
        while running:
            item, task = running.popleft()
            result = await task
            refill()
            yield item, result
    finally:
        for _, task in running:
            task.cancel()
        await asyncio.gather(*(task for _, task in running), return_exceptions=True)
