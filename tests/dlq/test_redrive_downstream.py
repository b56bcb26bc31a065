"""A redriven event reaches the workers' earnings exactly once, even when a redrive is repeated before its
marker was written (a crash between the two): the stream app recognises the same file position."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from openpool.dlq.reader import read_dead_letters
from openpool.dlq.redrive import plan_redrive
from openpool.dlq.republish import apply_redrive
from openpool.dlq.selection import Selection
from tests.bridge.emitter_files import T0, emitter_file, transcode_job
from tests.dlq.letters import refused_element
from tests.pipeline_process import PipelineProcess
from tests.stream_app.pipeline import expected_earnings

pytestmark = pytest.mark.integration


async def test_a_redriven_job_is_paid_into_earnings_once_even_when_published_twice(pipeline: PipelineProcess) -> None:
    file = emitter_file("us-central", "transcode", T0, 4)
    refused_job = transcode_job("us-central", T0) | {"Payload": {**file.envelopes[0]["Payload"], "fees": 7 * 10**12}}
    # As the bridge saw it under an older contract: the element at position 2 was refused.
    as_uploaded = [*file.envelopes[:2], "refused by an older contract", *file.envelopes[2:]]
    as_fixed = [*file.envelopes[:2], refused_job, *file.envelopes[2:]]
    await pipeline.upload({file.key: json.dumps(as_uploaded).encode()})
    assert pipeline.openpool("bridge", "--once").returncode == 0
    (placeholder,) = await pipeline.dead_letters()
    assert (placeholder["reason"], placeholder["position"]) == ("not_an_object", 2)
    await pipeline.write_dead_letters(
        [refused_element(refused_job, source_key=file.key, version=placeholder["source_version"], position=2)]
    )

    settings = pipeline.settings
    plan = plan_redrive(await read_dead_letters(settings), Selection(reason="wrong_type:fees"), settings.topics)
    assert len(plan.republish) == 1
    await apply_redrive(settings, plan)  # its marker is written, and then, as if the marker had been lost:
    await apply_redrive(settings, plan)
    events = await pipeline.read(settings.topics.events)
    assert [json.loads(r.value)["ID"] for r in events].count(refused_job["ID"]) == 2

    done = pipeline.openpool("run", "--until-idle", timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]

    latest = {r.key: json.loads(r.value) for r in await pipeline.read(settings.topics.earnings)}
    earned = {
        (address, pk): entry["worker_earnings"]
        for value in latest.values()
        for address in [value["worker_address"]]
        for pk, entry in value["partitions"].items()
    }
    expected = expected_earnings({file.key: json.dumps(as_fixed).encode()}, Decimal("0.25"))
    assert earned == {slot: entry.worker_earnings for slot, entry in expected.items()}
    jobs = {pk: entry["job_count"] for value in latest.values() for pk, entry in value["partitions"].items()}
    assert jobs == {"us-central|transcode": 5}
