"""The README's settings table is the operator's reference: every variable the settings read is in it."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices

from openpool.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    names = [
        field.validation_alias.choices[0] if isinstance(field.validation_alias, AliasChoices) else name.upper()
        for name, field in Settings.model_fields.items()
    ]
    assert [name for name in names if f"`{name}`" not in text] == []


def test_the_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text
