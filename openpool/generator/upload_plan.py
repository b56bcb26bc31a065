"""When each file reaches the bucket: shortly after its flush, except the late ones, plus repeats.

- A late file goes up only after a later file of its partition (up to the third next) has, which puts it
  behind a lexicographic listing cursor.
- A repeated upload puts the same key and the same bytes again, up to three flush intervals later.
- An overwrite is the emitter's own hazard, not an injected fault: keys are stamped to the second, so two
  flushes whose events all fall within one second get one key, and the second upload replaces the first.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

from openpool.generator.emitter import EventFile
from openpool.generator.pool_model import Partition


@dataclass(frozen=True, slots=True)
class Upload:
    key: str
    body: bytes
    at: float
    """Seconds after the data set's start."""
    file: int
    """The uploaded file's position among the data set's event files."""
    late: bool
    duplicate_of: int | None = None
    """For a repeated upload: the position, in upload order, of the first upload of the same file."""
    overwrites: int | None = None
    """For a later flush under an already used key: the position of the upload whose object it replaces."""


def plan_uploads(
    files: Sequence[EventFile], late_rate: float, duplicate_rate: float, flush_seconds: float, rng: random.Random
) -> tuple[Upload, ...]:
    at = [file.flushed_at + rng.uniform(0.05, 0.5) for file in files]
    late = [False] * len(files)
    superseded = [False] * len(files)
    by_partition: dict[Partition, list[int]] = {}
    for index, file in enumerate(files):
        by_partition.setdefault(file.partition, []).append(index)
    for indices in by_partition.values():
        # Stable: flushes sharing a key stay in flush order, so the later one replaces the earlier.
        indices.sort(key=lambda index: files[index].key)
        # The tracker uploads from its one flush loop: on time, a partition's files go up in key order.
        for previous, index in itertools.pairwise(indices):
            at[index] = max(at[index], at[previous] + 0.001)
            superseded[previous] = files[previous].key == files[index].key
        # Backwards, so that the upload time of every file a late one waits for is already final.
        for position in range(len(indices) - 1, -1, -1):
            index = indices[position]
            later = [i for i in indices[position + 1 :] if files[i].key > files[index].key][:3]
            if later and not superseded[index] and late_rate and rng.random() < late_rate:
                overtaken = later[rng.randrange(len(later))]
                at[index] = max(at[index], at[overtaken]) + rng.uniform(0.1, 5.0)
                late[index] = True
    planned = [(at[index], False, index) for index in range(len(files))]
    for index in range(len(files)):
        # A repeat of a superseded flush would put its replaced bytes back: the tracker never does that.
        if not superseded[index] and duplicate_rate and rng.random() < duplicate_rate:
            planned.append((at[index] + rng.uniform(1.0, 3.0 * flush_seconds), True, index))
    planned.sort()
    first_upload: dict[int, int] = {}
    last_of_key: dict[str, int] = {}
    uploads: list[Upload] = []
    for position, (when, repeated, index) in enumerate(planned):
        file = files[index]
        if repeated:
            upload = Upload(file.key, file.body, when, index, late=False, duplicate_of=first_upload[index])
        else:
            first_upload[index] = position
            upload = Upload(file.key, file.body, when, index, late=late[index], overwrites=last_of_key.get(file.key))
        last_of_key[file.key] = position
        uploads.append(upload)
    return tuple(uploads)
