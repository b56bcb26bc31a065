"""`openpool generate` writes what `generate` returns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from openpool.cli import main
from openpool.generator import GeneratorConfig, generate

ARGS = ["--seed", "5", "--start", "2025-11-05T15:00:00Z", "--duration", "90s", "--workers", "8"]
ARGS += ["--jobs-per-second", "10", "--duplicate-rate", "0.5", "--late-rate", "0.5", "--flush-seconds", "10"]


def test_the_folder_holds_each_file_under_its_key_and_the_manifest_describes_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["generate", *ARGS, "--out", str(tmp_path / "events"), "--manifest", str(tmp_path / "m.json")]
    )

    assert result.exit_code == 0, result.output
    expected = generate(
        GeneratorConfig(
            start=datetime(2025, 11, 5, 15, tzinfo=UTC),
            duration=timedelta(seconds=90),
            workers=8,
            jobs_per_second=10,
            duplicate_rate=0.5,
            late_rate=0.5,
            flush_seconds=10,
        ),
        seed=5,
    )
    written = {
        path.relative_to(tmp_path / "events").as_posix(): path.read_bytes()
        for path in (tmp_path / "events").rglob("*.json")
    }
    assert written == dict(expected.files)
    assert json.loads((tmp_path / "m.json").read_bytes()) == expected.manifest.to_json()
    assert "generated" in result.output


def test_without_a_start_the_stream_ends_about_now(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["generate", "--duration", "1m", "--workers", "5", "--manifest", str(tmp_path / "m.json")]
    )

    assert result.exit_code == 0, result.output
    start = datetime.fromisoformat(json.loads((tmp_path / "m.json").read_bytes())["config"]["start"])
    assert abs(start + timedelta(minutes=1) - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_destination_is_required_and_a_bad_duration_named() -> None:
    nowhere = CliRunner().invoke(main, ["generate", "--duration", "1m"])
    bad = CliRunner().invoke(main, ["generate", "--duration", "ten minutes", "--manifest", "m.json"])

    assert nowhere.exit_code == 2 and "--out DIR" in nowhere.output
    assert bad.exit_code == 2 and "not a duration" in bad.output


def test_durations_and_partitions_read_as_written(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "generate",
            "--duration",
            "1m30s",
            "--workers",
            "2",
            "--partitions",
            "oceania/transcode,eu-central/ai",
            "--manifest",
            str(tmp_path / "m.json"),
        ],
    )

    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m.json").read_bytes())["config"]
    assert config["duration_seconds"] == 90
    assert config["partitions"] == ["oceania/transcode", "eu-central/ai"]
