from __future__ import annotations

from datetime import UTC, datetime

from openpool.pipeline_process import line_time


def test_times_are_read_from_the_json_lines() -> None:
    ours = '{"at": "2026-11-25T21:06:42.270Z", "level": "INFO", "message": "created topics"}'
    assert line_time(ours) == datetime(2026, 11, 25, 21, 6, 42, 270000, tzinfo=UTC).timestamp()
    assert line_time("[2026-11-25 21:06:44,929] [7999] [INFO] a plain line") is None
    assert line_time("| a table row |") is None
