"""Each trial's new event files: a generated minute of a pool, some of whose workers are earlier trials' workers.

`openpool generate` names a pool's workers after its seed, so every trial's data set starts with new
addresses; a share of them is then replaced, byte for byte, by addresses of earlier trials.
Addresses are 42 characters either way, so every file keeps its shape, truncated uploads included. Each trial
covers the next minute of event time, so keys never repeat across trials.

The generator's faults stay on at raised rates: malformed events, truncated and `null` files, late and
repeated uploads, AI halves without a partner. A flush whose key a later flush of the same trial reuses is
left out: what the bridge makes of an object replaced under its feet depends on when it looked (it dead-letters
the events it cannot take back), which no oracle can know.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from openpool.generator import GeneratorConfig, generate
from openpool.generator.config import DEFAULT_START

TRIAL_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class TrialBatch:
    trial: int
    uploads: tuple[tuple[str, bytes], ...]
    """(key, body) in upload order: late files after the files that overtook them, repeats included."""
    workers: tuple[str, ...]
    returning: tuple[str, ...]
    """The workers that an earlier trial had already."""

    @property
    def files(self) -> dict[str, bytes]:
        return dict(self.uploads)

    @property
    def new_workers(self) -> int:
        return len(self.workers) - len(self.returning)


class TrialBatches:
    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._known: list[str] = []

    def batch(self, trial: int) -> TrialBatch:
        """The files of `trial`; ask in trial order, since returning workers are drawn from the earlier trials."""
        rng = random.Random(f"{self._seed}/batch/{trial}")
        config = GeneratorConfig(
            start=DEFAULT_START + trial * TRIAL_WINDOW,
            duration=TRIAL_WINDOW,
            workers=rng.randint(6, 9),
            jobs_per_second=rng.uniform(2.0, 4.0),
            flush_seconds=20,
            late_rate=0.1,
            duplicate_rate=0.1,
            malformed_rate=0.01,
            broken_file_rate=0.05,
            unmatched_rate=0.03,
        )
        dataset = generate(config, rng.getrandbits(48))
        generated = [address for address, _, _ in dataset.manifest.workers]
        returning = rng.sample(self._known, min(len(self._known), rng.randint(1, len(generated) // 2)))
        replaced = dict(zip(rng.sample(generated, len(returning)), returning, strict=True))
        uploads = [(key, _with_addresses(body, replaced)) for key, body in dataset.files]
        final = dict(uploads)
        workers = tuple(replaced.get(address, address) for address in generated)
        self._known.extend(address for address in workers if address not in self._known)
        return TrialBatch(
            trial=trial,
            uploads=tuple((key, body) for key, body in uploads if final[key] == body),
            workers=workers,
            returning=tuple(returning),
        )


def _with_addresses(body: bytes, replaced: dict[str, str]) -> bytes:
    for generated, returning in replaced.items():
        body = body.replace(generated.encode(), returning.encode())
    return body
