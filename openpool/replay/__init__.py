"""Replays and backfills: republishing archived files, rewinding a consumer group, rebuilding into a new app id.

None of them needs a mode of its own in the stream app: every replay delivers input the app's delivery rules
(docs/design.md) recognise, so what was right stays right. The runbook is docs/runbooks/replay.md.
"""
