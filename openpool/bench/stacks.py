"""Where a profiled process spent its CPU: self time per function and per component, inclusive time of our code.

Pure functions over sampled stacks (py-spy's collapsed `frame;frame;frame count` lines) or over cProfile's
per-function totals, so both tools give the same summary.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

from openpool.bench.results import FunctionShare

OWN_PACKAGES = ("openpool/", "bridge/", "stream_app/", "payments/")
# Frames every sample of a process passes through; their inclusive time says nothing.
ENTRY_POINTS = ("openpool/cli.py:", "stream_app/cli.py:", "stream_app/worker.py:run", "openpool/bench/")
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_SITE = re.compile(r"(?:site|dist)-packages/(.+)$")
_STDLIB = re.compile(r"/lib/python3\.\d+/(.+)$")


def short_file(path: str) -> str:
    """`faust/tables/base.py`, `json/decoder.py`, `stream_app/agents/fees.py`: the path a reader recognises."""
    site = _SITE.search(path)
    if site is not None:
        return site.group(1)
    stdlib = _STDLIB.search(path)
    if stdlib is not None:
        return stdlib.group(1)
    for package in OWN_PACKAGES:
        index = path.rfind("/" + package)
        if index >= 0:
            return path[index + 1 :]
        if path.startswith(package):
            return path
    return path


def frame_label(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{short_file(match.group('file'))}:{match.group('function')}"


def component(label: str) -> str:
    """The library (`faust`, `aiokafka`, `json`, `asyncio`, ...) or our package (`stream_app.agents`, ...)."""
    path = label.split(":", 1)[0]
    parts = path.split("/")
    if parts[0] in ("openpool", "stream_app", "payments", "bridge") and len(parts) > 2:
        return f"{parts[0]}.{parts[1]}"
    if parts[0].endswith(".py"):
        return parts[0][:-3]
    return parts[0]


def is_own(label: str) -> bool:
    return label.startswith(OWN_PACKAGES) and not label.startswith(ENTRY_POINTS)


def parse_collapsed(lines: Iterable[str]) -> Counter[tuple[str, ...]]:
    """py-spy `--format raw`: each line a stack, root first, and a sample count."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks[tuple(frame_label(frame) for frame in stack.split(";"))] += int(count)
    return stacks


def summarise_stacks(
    stacks: Mapping[tuple[str, ...], int], top: int = 15
) -> tuple[int, list[FunctionShare], list[FunctionShare], list[FunctionShare]]:
    """(samples, self time by component, self time by function, our functions' inclusive time)."""
    total = sum(stacks.values())
    own_self: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.items():
        own_self[stack[-1]] += count
        for label in set(stack):
            if is_own(label):
                inclusive[label] += count
    return total, *_shares(own_self, inclusive, total, top)


def summarise_totals(
    self_seconds: Mapping[str, float], inclusive_seconds: Mapping[str, float], top: int = 15
) -> tuple[list[FunctionShare], list[FunctionShare], list[FunctionShare]]:
    """The same summary from cProfile's per-function totals (labels as `frame_label` makes them)."""
    total = sum(self_seconds.values())
    own = {label: seconds for label, seconds in inclusive_seconds.items() if is_own(label)}
    return _shares(Counter(self_seconds), Counter(own), total, top)


def _shares(
    self_time: Counter[str], inclusive: Counter[str], total: float, top: int
) -> tuple[list[FunctionShare], list[FunctionShare], list[FunctionShare]]:
    if total <= 0:
        return [], [], []
    components: Counter[str] = Counter()
    for label, amount in self_time.items():
        components[component(label)] += amount
    return (
        [FunctionShare(name, amount / total) for name, amount in components.most_common(top)],
        [FunctionShare(name, amount / total) for name, amount in self_time.most_common(top)],
        [FunctionShare(name, amount / total) for name, amount in inclusive.most_common(top)],
    )
