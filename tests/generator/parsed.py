"""The generated files read back through the contract, as the bridge will read them."""

from __future__ import annotations

from dataclasses import dataclass

from openpool.domain.event_files import ParsedFile, SourceKey, parse_event_file
from openpool.domain.events import Event
from openpool.generator import GeneratedDataSet


@dataclass(frozen=True)
class ReadFile:
    source: SourceKey
    parsed: ParsedFile

    @property
    def events(self) -> list[Event]:
        return [positioned.event for positioned in self.parsed.events]


def read_back(dataset: GeneratedDataSet) -> dict[str, ReadFile]:
    """Each distinct key once, in key order (the order a listing gives)."""
    files: dict[str, ReadFile] = {}
    for key, body in sorted(dict(dataset.files).items()):
        source = SourceKey.parse(key)
        assert source is not None, key
        files[key] = ReadFile(source, parse_event_file(source, body))
    return files


def events_by_partition(dataset: GeneratedDataSet) -> dict[str, list[tuple[str, Event]]]:
    """(key, event) of every accepted event, per partition, in key then position order."""
    streams: dict[str, list[tuple[str, Event]]] = {}
    for key, read in read_back(dataset).items():
        stream = streams.setdefault(read.source.prefix.rstrip("/"), [])
        stream.extend((key, event) for event in read.events)
    return streams
