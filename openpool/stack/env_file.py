"""KEY=VALUE lines: printed by `openpool stack up` and written to the file openpool.settings reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def render_env(values: Mapping[str, str]) -> str:
    for key, value in values.items():
        if "\n" in value or "\n" in key:
            raise ValueError(f"{key}: a value in an env file cannot span lines")
    return "".join(f"{key}={value}\n" for key, value in values.items())


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(
        "# Written by `openpool stack up`; the process environment wins over these values.\n" + render_env(values),
        encoding="utf-8",
    )
    temporary.replace(path)
