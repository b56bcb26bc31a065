"""`generate`: a data set as a pure function of (config, seed): the files, their upload order, the manifest.

No wall clock and no shared random state: each step draws from its own `random.Random`, named by the seed,
the step and the partition, so that one step's draws never shift another's (a different malformed rate, say,
leaves the simulated pool activity as it was).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from openpool.generator.config import GeneratorConfig
from openpool.generator.emitter import Clock, EventFile, FlushPolicy, flushes, render
from openpool.generator.faults import with_broken_bodies, with_malformed
from openpool.generator.manifest import Manifest, build_manifest
from openpool.generator.orchestrator import Customers, Load, simulate
from openpool.generator.pool_model import Partition, Pool, build_pool, job_shares
from openpool.generator.upload_plan import Upload, plan_uploads


@dataclass(frozen=True, slots=True)
class GeneratedDataSet:
    seed: int
    config: GeneratorConfig
    event_files: tuple[EventFile, ...]
    """Every flush once, with what it was made of (two may share a key: see `upload_plan`)."""
    uploads: tuple[Upload, ...]
    manifest: Manifest

    @property
    def files(self) -> tuple[tuple[str, bytes], ...]:
        """(key, body) in upload order, repeated uploads included."""
        return tuple((upload.key, upload.body) for upload in self.uploads)

    @property
    def emitted_events(self) -> int:
        return sum(len(file.emissions) for file in self.event_files)

    @property
    def size(self) -> int:
        return sum(len(file.body) for file in self.event_files)

    def manifest_json(self) -> bytes:
        return json.dumps(self.manifest.to_json(), indent=2).encode()


def generate(config: GeneratorConfig, seed: int) -> GeneratedDataSet:
    pool = build_pool(seed, config.partitions, config.workers, config.ai_share)
    shares = job_shares(config.partitions, config.ai_share)
    clock = Clock(config.start)
    files: list[EventFile] = []
    for partition in config.partitions:
        files.extend(_partition_files(config, seed, pool, partition, config.jobs_per_second * shares[partition], clock))
    uploads = plan_uploads(files, config.late_rate, config.duplicate_rate, config.flush_seconds, _rng(seed, "uploads"))
    manifest = build_manifest(config, seed, pool, files, uploads)
    return GeneratedDataSet(seed, config, tuple(files), uploads, manifest)


def _partition_files(
    config: GeneratorConfig, seed: int, pool: Pool, partition: Partition, jobs_per_second: float, clock: Clock
) -> list[EventFile]:
    workers = pool.workers_of(partition)
    load = Load(
        duration_seconds=config.duration_seconds,
        jobs_per_second=jobs_per_second,
        churn_per_hour=config.churn_per_hour,
        resets_per_hour=config.resets_per_hour,
        unmatched_rate=config.unmatched_rate,
    )
    customers = Customers(pool.broadcasters, pool.gateways)
    emissions = simulate(partition, workers, customers, load, _rng(seed, "orchestrator", partition))
    addresses = [worker.address for worker in workers]
    emissions = with_malformed(
        emissions, config.malformed_rate, _rng(seed, "malformed", partition), partition, addresses
    )
    policy = FlushPolicy(config.flush_seconds, config.flush_threshold)
    ids = _rng(seed, "event-ids", partition)
    rendered = [render(flush, clock, ids) for flush in flushes(partition, emissions, policy, config.duration_seconds)]
    return with_broken_bodies(rendered, config.broken_file_rate, _rng(seed, "broken-files", partition))


def _rng(seed: int, purpose: str, partition: Partition | None = None) -> random.Random:
    # A str seed is hashed with SHA-512, not hash(): the same on every run and every machine.
    return random.Random(f"{seed}/{purpose}" + (f"/{partition}" if partition else ""))
