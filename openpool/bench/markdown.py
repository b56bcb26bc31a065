"""BENCHMARKS.md from a benchmark run (pure): machine, results against same-run baselines, method, profile."""

from __future__ import annotations

import math
from collections.abc import Sequence

from openpool.bench.results import BenchRun, Figure, FunctionShare, ProfileSummary

SHOWN_FROM = 0.005
_MACHINE_ROWS = (
    ("CPU", "cpu_model"),
    ("cores", "cores"),
    ("memory (GiB)", "memory_gib"),
    ("load average at start (1/5/15 min)", "load_average_at_start"),
    ("OS", "os"),
    ("Python", "python"),
    ("Kafka (local KRaft broker)", "kafka"),
    ("aiokafka", "aiokafka"),
    ("faust-streaming", "faust_streaming"),
    ("rocksdict", "rocksdict"),
    ("date (UTC)", "date"),
)


def render_markdown(run: BenchRun) -> str:
    parts = [
        "# Benchmarks",
        (
            f"Written by `make bench` (`openpool bench`, {run.seconds / 60:.1f} min) on the local stack "
            "(`openpool stack up`: one KRaft Kafka broker, moto S3, anvil). Each figure stands next to a baseline "
            "measured in the same run on the same machine: the machine is shared and absolute numbers drift "
            "with its load, so the ratios are the point. Raw numbers: `bench/results.json`."
        ),
        "## Machine",
        _table(("", ""), [(name, _text(run.machine.get(key))) for name, key in _MACHINE_ROWS]),
        "## Results",
        _table(
            ("figure", "measured", "baseline (same run)", "ratio", "target", "met"),
            [_result_row(figure) for figure in run.figures],
        ),
    ]
    if run.notes:
        parts += ["## Notes", "\n".join(f"- {note}" for note in run.notes)]
    parts += ["## Method", "\n".join(_method(figure) for figure in run.figures)]
    for profile in run.profiles:
        parts += _profile(profile)
    return "\n\n".join(parts) + "\n"


def _result_row(figure: Figure) -> tuple[str, ...]:
    met = {True: "yes", False: "**no**", None: "-"}[figure.met]
    ratio = "-" if figure.ratio is None else f"{figure.ratio:.3g}"
    baseline = "-" if figure.baseline is None else f"{_number(figure.baseline, figure.unit)} ({figure.baseline_title})"
    return (figure.title, _number(figure.value, figure.unit), baseline, ratio, figure.target.text, met)


def _method(figure: Figure) -> str:
    details = ", ".join(f"{key} {_text(value)}" for key, value in figure.details.items())
    return f"- **{figure.title}.** {figure.method} Raw: {details}."


def _profile(profile: ProfileSummary) -> list[str]:
    counted = "samples" if profile.tool == "py-spy" else "function calls"
    share_of = (
        "the samples in which the process was running (time blocked in epoll is not counted)"
        if profile.tool == "py-spy"
        else "the main thread's CPU time as cProfile measured it (its overhead inflates small functions)"
    )
    intro = (
        f"{profile.tool}, {profile.samples:,} {counted} over {profile.seconds:.0f} s of the {profile.stage} at work "
        f"(raw data: `{profile.raw_file}`). Shares are of {share_of}."
    )
    facts = ["\n".join(f"- {fact}" for fact in profile.facts)] if profile.facts else []
    return [
        f"## Profile: {profile.stage}",
        intro,
        *facts,
        "### Self time by component",
        _shares(profile.by_component, "component"),
        "### Functions by self time",
        _shares(profile.top_self, "function"),
        "### The project's functions by inclusive time",
        _shares(profile.top_inclusive, "function"),
    ]


def _shares(shares: Sequence[FunctionShare], what: str) -> str:
    shown = [share for share in shares if share.share >= SHOWN_FROM]
    if not shown:
        return f"(none above {SHOWN_FROM:.1%})"
    return _table((what, "share"), [(f"`{share.function}`", f"{share.share:.1%}") for share in shown])


def _number(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "not reached (probes still missing)" if unit == "s" else "∞"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.1f} {unit}"


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return " / ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_text(item)}" for key, item in value.items()) + "}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "-" if value is None else str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)
