"""Which payout WAL records a switched-to app id needs so that its payer knows everything already paid. Pure.

A rebuilt app id starts with an empty WAL; a payer reading it would pay every worker its whole balance
again. Before the new app id's payer runs, its WAL must hold the latest state of every payout of the old
one. Each WAL record carries the payout's whole state, so the latest record per payout is all it takes.
"""

from __future__ import annotations

from collections.abc import Sequence

from payments.wal import WalError, WalRecord, check_successor, latest_records


class HandoverRefused(ValueError):
    """The target WAL knows something the source does not: handing over would hide or rewind a payout."""


def handover_records(source: Sequence[WalRecord], target: Sequence[WalRecord]) -> tuple[WalRecord, ...]:
    """The source's latest record of each payout the target lacks or holds in an earlier state, in the
    source's log order. Refuses when the target holds a payout the source lacks, or a later state of one."""
    wanted = latest_records(source)
    held = latest_records(target)
    for payout, record in held.items():
        latest = wanted.get(payout)
        if latest is None:
            raise HandoverRefused(f"the target WAL holds payout {payout}, which the source WAL does not")
        if latest == record:
            continue
        try:
            check_successor(record, latest)
        except WalError as error:
            raise HandoverRefused(
                f"the target's state of payout {payout} does not precede the source's: {error}"
            ) from None
    last_position = {record.payout_id: index for index, record in enumerate(source)}
    missing = [record for payout, record in wanted.items() if held.get(payout) != record]
    return tuple(sorted(missing, key=lambda record: last_position[record.payout_id]))
