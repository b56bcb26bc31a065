"""`openpool replay hand-over-wal` against the real broker: the new app id's WAL gets the old one's payouts,
and the old app id's payer can record nothing more."""

from __future__ import annotations

import pytest

from payments.kafka_wal import PayerFenced, open_payout_wal, read_wal
from payments.wal import latest_records
from tests.pipeline_process import PipelineProcess
from tests.replay.wal_records import PAYEES, intent, paid
from tests.stream_app.pipeline import settings_of

pytestmark = pytest.mark.integration


async def test_handing_over_the_wal_copies_every_payouts_latest_state_and_fences_the_old_payer(
    kafka_bootstrap: str, pipeline: PipelineProcess
) -> None:
    blue = pipeline.settings
    green = settings_of({**pipeline.env, "OPENPOOL_APP_ID": f"{blue.app_id}-green"})
    command = ("replay", "hand-over-wal", "--from-app", blue.app_id, "--to-app", green.app_id)
    async with open_payout_wal(blue) as old_payer:
        await old_payer.append(intent(PAYEES[0]))
        await old_payer.append(paid(intent(PAYEES[1])))

        planned = pipeline.openpool(*command)
        assert planned.returncode == 0, planned.stderr[-3000:]
        assert "would append 2 records" in planned.stdout
        assert await read_wal(kafka_bootstrap, green.topics.payout_wal) == ()

        handed_over = pipeline.openpool(*command, "--execute")
        assert handed_over.returncode == 0, handed_over.stderr[-3000:]
        with pytest.raises(PayerFenced):
            await old_payer.append(intent(PAYEES[0], seq=2))

    blue_wal = latest_records(await read_wal(kafka_bootstrap, blue.topics.payout_wal))
    assert latest_records(await read_wal(kafka_bootstrap, green.topics.payout_wal)) == blue_wal

    again = pipeline.openpool(*command, "--execute")
    assert again.returncode == 0 and "appended 0 records" in again.stdout

    async with open_payout_wal(green) as new_payer:
        await new_payer.append(intent(PAYEES[0], seq=2))
    refused = pipeline.openpool(*command, "--execute")
    assert refused.returncode == 1
    assert "refused" in refused.stderr and f"po-{PAYEES[0]}-2" in refused.stderr
