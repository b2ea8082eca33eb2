"""Long work in slices: every item once, in order, and a turn of the loop between slices."""

from __future__ import annotations

import asyncio

from gtm.slices import in_slices


def test_slices_hand_out_every_item_with_a_turn_between_them() -> None:
    async def run() -> list[tuple[list[int], int]]:
        turns = 0

        async def count_turns() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count_turns())
        await asyncio.sleep(0)
        seen: list[tuple[list[int], int]] = []
        async for part in in_slices(list(range(7)), 3):
            seen.append((list(part), turns))
        counter.cancel()
        return seen

    seen = asyncio.run(run())
    assert [part for part, _ in seen] == [[0, 1, 2], [3, 4, 5], [6]]
    first, second, third = (turn for _, turn in seen)
    assert first < second < third  # the loop turned before each later slice
