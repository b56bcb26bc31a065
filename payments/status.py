"""Where each address stands: earned, confirmed, in flight, its open payouts, and whether payouts are halted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from openpool.domain.payouts import unpaid_wei
from payments.wal import PaidLedger, PayoutState


@dataclass(frozen=True, slots=True)
class AddressStatus:
    address: str
    earned_wei: int
    confirmed_wei: int
    in_flight_wei: int
    unpaid_wei: int
    open_payouts: tuple[str, ...]
    halted: bool
    awaiting_review: bool


@dataclass(frozen=True, slots=True)
class PayoutStatus:
    addresses: tuple[AddressStatus, ...]
    halted: bool

    @property
    def totals(self) -> dict[str, int]:
        return {
            "addresses": len(self.addresses),
            "earned_wei": sum(a.earned_wei for a in self.addresses),
            "confirmed_wei": sum(a.confirmed_wei for a in self.addresses),
            "in_flight_wei": sum(a.in_flight_wei for a in self.addresses),
            "unpaid_wei": sum(max(a.unpaid_wei, 0) for a in self.addresses),
            "open_payouts": sum(len(a.open_payouts) for a in self.addresses),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "halted": self.halted,
            "totals": self.totals,
            "addresses": [asdict(a) | {"open_payouts": list(a.open_payouts)} for a in self.addresses],
        }


def payout_status(earnings_wei: Mapping[str, int], ledger: PaidLedger) -> PayoutStatus:
    open_by_address: dict[str, list[str]] = {}
    halted_addresses: set[str] = set()
    for record in ledger.open_records:
        open_by_address.setdefault(record.address, []).append(record.payout_id)
        if record.state is PayoutState.HALTED:
            halted_addresses.add(record.address)
    addresses = sorted(set(earnings_wei) | set(ledger.confirmed_wei) | set(ledger.in_flight_wei))
    return PayoutStatus(
        addresses=tuple(
            AddressStatus(
                address=address,
                earned_wei=earnings_wei.get(address, 0),
                confirmed_wei=ledger.confirmed_wei.get(address, 0),
                in_flight_wei=ledger.in_flight_wei.get(address, 0),
                unpaid_wei=unpaid_wei(address, earnings_wei, ledger),
                open_payouts=tuple(open_by_address.get(address, ())),
                halted=address in halted_addresses,
                awaiting_review=address in ledger.review_addresses,
            )
            for address in addresses
        ),
        halted=ledger.halted,
    )
