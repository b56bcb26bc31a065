"""The one settings object: the predecessor's variables keep working, bad values stop the process with the
variable's name, and secrets never appear in what it prints."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openpool.settings import Settings, SettingsError, load_settings

PREDECESSOR_DEFAULTS = {
    "s3_bucket": "raw-events",
    "s3_metrics_bucket": "open-pool-metrics",
    "s3_archive_prefix": "archive/",
    "payment_threshold_wei": 10**16,
    "max_gas_price_wei": 5_000_000_000_000,
    "gas_limit": 1_000_000,
    "chain_id": 42161,
    "pool_commission_rate": Decimal("0.25"),
    "max_files_per_batch": 250,
}


@pytest.fixture(autouse=True)
def no_stack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's `.openpool/stack.env` would override defaults; these tests read only what they set."""
    monkeypatch.setitem(Settings.model_config, "env_file", None)
    for name in ("S3_BUCKET", "S3_ARCHIVE_BUCKET", "POOL_COMMISSION_RATE", "ETH_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_the_predecessors_defaults_hold() -> None:
    settings = load_settings()
    assert {name: getattr(settings, name) for name in PREDECESSOR_DEFAULTS} == PREDECESSOR_DEFAULTS


def test_the_predecessors_variable_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_BUCKET", "open-pool-events")
    monkeypatch.setenv("POOL_COMMISSION_RATE", "0.1")
    settings = load_settings()
    assert (settings.s3_bucket, settings.pool_commission_rate) == ("open-pool-events", Decimal("0.1"))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("POOL_COMMISSION_RATE", "1.5"),
        ("PAYMENT_THRESHOLD_WEI", "-1"),
        ("OPENPOOL_PAYER_ADDRESS", "0x123"),
        ("CHAIN_ID", "arbitrum"),
        ("OPENPOOL_APP_ID", "has spaces"),
    ],
)
def test_an_invalid_value_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_a_secret_or_a_misplaced_value_is_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "0x" + "ab" * 32
    monkeypatch.setenv("ETH_PRIVATE_KEY", key)
    monkeypatch.setenv("OPENPOOL_PAYER_ADDRESS", key)  # a key pasted into the wrong variable
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "ab" * 32 not in str(refused.value)
    monkeypatch.delenv("OPENPOOL_PAYER_ADDRESS")
    settings = load_settings()
    assert "ab" * 32 not in repr(settings) + str(settings)


def test_the_commission_rate_is_the_exact_decimal_written() -> None:
    assert load_settings(POOL_COMMISSION_RATE="0.1").pool_commission_rate == Decimal("0.1")


def test_an_empty_archive_bucket_means_no_archive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_ARCHIVE_BUCKET", "")
    assert load_settings().s3_archive_bucket is None
