from __future__ import annotations

import pytest

from openpool.bench.footprint import Footprint, markdown_table


def test_peak_cpu_is_the_busiest_five_seconds_and_mean_the_whole_run() -> None:
    # 10 s at 0.2 core, 5 s at 0.9 core, 5 s idle; sampled every 0.5 s.
    rates = [0.2] * 20 + [0.9] * 10 + [0.0] * 10
    cpu = [(0.0, 0.0)]
    for rate in rates:
        wall, used = cpu[-1]
        cpu.append((wall + 0.5, used + rate * 0.5))
    footprint = Footprint.of(cpu, peak_rss_mib=301.23, rss_at_end_mib=290.06)
    assert footprint.seconds == 20.0
    assert footprint.peak_cores == pytest.approx(0.9)
    assert footprint.mean_cores == pytest.approx((2.0 + 4.5) / 20, abs=0.01)
    assert (footprint.peak_rss_mib, footprint.rss_at_end_mib) == (301.2, 290.1)


def test_a_run_shorter_than_the_window_has_no_peak_rather_than_a_noisy_one() -> None:
    footprint = Footprint.of([(0.0, 0.0), (1.0, 0.9), (2.0, 1.8)], peak_rss_mib=100, rss_at_end_mib=100)
    assert (footprint.peak_cores, footprint.mean_cores) == (0.0, 0.9)


def test_the_table_has_a_row_per_process() -> None:
    figures = {"seconds": 1.0, "peak_rss_mib": 2.0, "rss_at_end_mib": 3.0, "mean_cores": 0.4, "peak_cores": 0.5}
    table = markdown_table({"processes": {"worker": figures, "bridge": figures}})
    assert table.splitlines()[2:] == [
        "| worker | 1.0 | 2.0 | 3.0 | 0.4 | 0.5 |",
        "| bridge | 1.0 | 2.0 | 3.0 | 0.4 | 0.5 |",
    ]
