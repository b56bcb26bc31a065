"""Whatever the configuration, the files read through the contract as the manifest says."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openpool.generator import GeneratorConfig, generate
from tests.generator.parsed import read_back

rates = st.floats(0, 0.5)
configs = st.builds(
    GeneratorConfig,
    duration=st.integers(1, 240).map(lambda seconds: timedelta(seconds=seconds)),
    workers=st.integers(5, 12),
    jobs_per_second=st.floats(0, 20),
    ai_share=st.floats(0, 1),
    churn_per_hour=st.floats(0, 200),
    resets_per_hour=st.floats(0, 100),
    late_rate=rates,
    duplicate_rate=rates,
    unmatched_rate=rates,
    malformed_rate=st.floats(0, 0.2),
    broken_file_rate=rates,
    flush_seconds=st.integers(1, 90),
    flush_threshold=st.integers(200, 10_000),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs, seed=st.integers(0, 2**32))
def test_any_data_set_reads_back_exactly_as_its_manifest_says(config: GeneratorConfig, seed: int) -> None:
    dataset = generate(config, seed)
    read = read_back(dataset)

    assert sorted(read) == [entry.key for entry in dataset.manifest.files]
    for entry in dataset.manifest.files:
        parsed = read[entry.key].parsed
        assert dict(Counter(p.event.event_type.value for p in parsed.events)) == entry.accepted
        assert dict(Counter(r.reason for r in parsed.rejections)) == entry.rejected
        source = read[entry.key].source
        assert source.start <= source.end
        assert source.end.timestamp() - config.start.timestamp() < config.duration_seconds
