from __future__ import annotations

import asyncio
import contextlib

from bridge.prefetch import prefetched


async def test_results_come_in_item_order_with_a_bounded_number_of_fetches_running() -> None:
    running = 0
    most = 0

    async def fetch(item: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01 * (5 - item % 5))
        running -= 1
        return item * 10

    seen = [pair async for pair in prefetched(range(12), fetch, ahead=3)]
    assert seen == [(i, i * 10) for i in range(12)]
    assert most == 3


async def test_stopping_early_cancels_the_fetches_still_running() -> None:
    finished: list[int] = []

    async def fetch(item: int) -> int:
        await asyncio.sleep(0 if item == 0 else 0.2)
        finished.append(item)
        return item

    async with contextlib.aclosing(prefetched(range(10), fetch, ahead=4)) as pairs:
        async for item, _ in pairs:
            assert item == 0
            break
    await asyncio.sleep(0.3)
    assert finished == [0]
