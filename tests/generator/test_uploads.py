"""The upload order: late files behind later ones, repeated uploads of identical bytes."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from openpool.generator import GeneratedDataSet, GeneratorConfig, generate
from tests.generator.parsed import read_back


def _partition(key: str) -> str:
    return key.rsplit("/", 1)[0]


def test_a_late_file_goes_up_after_a_later_file_of_its_partition_and_others_in_key_order(
    faulty: GeneratedDataSet,
) -> None:
    uploads = faulty.uploads
    first_uploads = [upload for upload in uploads if upload.duplicate_of is None]
    late = 0
    for position, upload in enumerate(first_uploads):
        overtaken_by = [
            earlier.key
            for earlier in first_uploads[:position]
            if _partition(earlier.key) == _partition(upload.key) and earlier.key > upload.key
        ]
        assert bool(overtaken_by) == upload.late, upload.key
        late += upload.late
    assert late >= 5
    assert set(faulty.manifest.late_files) == {upload.key for upload in uploads if upload.late}


def test_a_repeated_upload_is_the_same_key_and_bytes_some_time_after_the_first(faulty: GeneratedDataSet) -> None:
    repeats = [(position, upload) for position, upload in enumerate(faulty.uploads) if upload.duplicate_of is not None]

    assert len(repeats) >= 5
    for position, upload in repeats:
        first = faulty.uploads[upload.duplicate_of]  # type: ignore[index]
        assert first.duplicate_of is None
        assert (first.key, first.body) == (upload.key, upload.body)
        assert upload.duplicate_of < position  # type: ignore[operator]
        assert upload.at - first.at >= 1.0
    assert set(faulty.manifest.duplicated_files) == {upload.key for _, upload in repeats}
    assert len(faulty.uploads) == len(faulty.event_files) + len(repeats)


def test_uploads_follow_the_flushes_in_time(faulty: GeneratedDataSet) -> None:
    times = [upload.at for upload in faulty.uploads]

    assert times == sorted(times)
    assert all(upload.at > faulty.event_files[upload.file].flushed_at for upload in faulty.uploads)
    assert times[-1] < faulty.config.duration_seconds * 3


def test_the_manifest_records_the_upload_order(faulty: GeneratedDataSet) -> None:
    document = faulty.manifest.to_json()

    assert [entry["key"] for entry in document["uploads"]] == [key for key, _ in faulty.files]
    assert [entry["position"] for entry in document["uploads"]] == list(range(len(faulty.uploads)))
    for entry in document["files"]:
        assert all(document["uploads"][position]["key"] == entry["key"] for position in entry["uploads"])


def test_two_flushes_within_one_second_share_a_key_and_the_later_replaces_the_earlier() -> None:
    quiet = GeneratorConfig(
        duration=timedelta(minutes=3), workers=6, jobs_per_second=1, ai_share=0.5, flush_seconds=1, broken_file_rate=0
    )
    dataset = generate(quiet, seed=1)
    overwrites = [
        (position, upload) for position, upload in enumerate(dataset.uploads) if upload.overwrites is not None
    ]

    assert overwrites
    for position, upload in overwrites:
        replaced = dataset.uploads[upload.overwrites]  # type: ignore[index]
        assert replaced.key == upload.key and replaced.body != upload.body
        assert upload.overwrites < position  # type: ignore[operator]
        assert dataset.event_files[replaced.file].flushed_at <= dataset.event_files[upload.file].flushed_at
        assert dataset.manifest.file(upload.key).overwritten == len(dataset.event_files[replaced.file].emissions)
    assert {upload.key for _, upload in overwrites} == set(dataset.manifest.overwritten_files)
    assert "partner_overwritten" in {half.cause for half in dataset.manifest.unmatched_ai_halves}
    read = read_back(dataset)
    for entry in dataset.manifest.files:
        accepted = Counter(positioned.event.event_type.value for positioned in read[entry.key].parsed.events)
        assert dict(accepted) == entry.accepted
