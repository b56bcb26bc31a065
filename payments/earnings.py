"""The payer's input: each worker address's earnings, summed over all partitions, from the earnings read model.

The `{app}.earnings` topic holds, per worker address, the fees agent's latest total
(`{worker_address, worker_earnings, total_fees, pool_commission, job_count, partitions}`); only
`worker_earnings` (net of commission, integer wei) matters for payouts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from openpool.settings import Settings
from stream_app.read_models import ReadModel


class EarningsUnreadable(ValueError):
    """An earnings read-model entry the payer cannot trust; paying from a guess is worse than not paying."""


def earnings_wei(models: Mapping[str, Any]) -> dict[str, int]:
    earned: dict[str, int] = {}
    for key, model in models.items():
        if not isinstance(model, dict):
            raise EarningsUnreadable(f"earnings of {key!r}: not a JSON object")
        address = model.get("worker_address", key)
        amount = model.get("worker_earnings")
        if not isinstance(address, str) or not is_address(address):
            raise EarningsUnreadable(f"earnings of {key!r}: worker_address is not an Ethereum address")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            raise EarningsUnreadable(f"earnings of {key!r}: worker_earnings is not a non-negative integer")
        earned[to_checksum_address(address)] = amount
    return earned


async def load_earnings(settings: Settings, *, timeout_seconds: float = 30.0) -> dict[str, int]:
    """Everything on the earnings topic up to now (the topic must exist: `ensure_payer_topics`)."""
    model = ReadModel(settings.kafka_bootstrap_servers, settings.topics.earnings)
    await model.start()
    try:
        await model.caught_up(timeout_seconds)
        return earnings_wei(model.values)
    finally:
        await model.stop()
