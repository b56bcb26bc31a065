"""Every Prometheus metric of the project, in one module, with the `openpool_` prefix and base units.

Components import the metric objects they update from here, so a dashboard author reads one file to know
what exists. prometheus-client adds `_total` to counters itself.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# --- dead letters (every stage writes through openpool.dead_letters) ---
DEAD_LETTERS = Counter(
    "openpool_dead_letters",
    "Records written to the dead-letter topic, acknowledged by the broker.",
    ["stage", "reason"],
)

# --- bridge: S3 event files -> Kafka ---
BRIDGE_FILES_PUBLISHED = Counter(
    "openpool_bridge_files_published",
    "S3 file versions whose records were acknowledged and whose progress was marked.",
)
BRIDGE_EVENTS_PUBLISHED = Counter(
    "openpool_bridge_events_published",
    "Event records acknowledged on the events topic.",
)
BRIDGE_EVENTS_SKIPPED = Counter(
    "openpool_bridge_events_skipped",
    "Events of a changed file not published again because the previous version already carried them.",
)
BRIDGE_FILE_FAILURES = Counter(
    "openpool_bridge_file_failures",
    "Files left unpublished in a poll because S3 could not serve them; they are tried again next poll.",
    ["reason"],
)
BRIDGE_ARCHIVE_FAILURES = Counter(
    "openpool_bridge_archive_failures",
    "Archive copies (or source deletions) that failed; retried on later polls.",
    ["reason"],
)
BRIDGE_LISTED_OBJECTS = Counter(
    "openpool_bridge_list_objects",
    "Objects returned by S3 listings; its rate per poll is the listing cost.",
)
BRIDGE_POLLS = Counter(
    "openpool_bridge_polls",
    "Polls of the source bucket, by kind of listing.",
    ["listing"],
)
BRIDGE_OLDEST_UNPUBLISHED_FILE_AGE = Gauge(
    "openpool_bridge_oldest_unpublished_file_age_seconds",
    "Age (now - S3 LastModified) of the oldest listed file not yet published; 0 when none is waiting.",
)
BRIDGE_PUBLISH_DELAY = Histogram(
    "openpool_bridge_publish_delay_seconds",
    "Time from a file's S3 LastModified to the acknowledgement of its progress mark.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400),
)

# --- stream app ---
STREAM_EVENTS = Counter(
    "openpool_stream_events",
    "Event records read by stage 1, by event type.",
    ["event_type"],
)
STREAM_DUPLICATES = Counter(
    "openpool_stream_duplicate_events",
    "Event records skipped because another publication of the same file position was applied.",
)
STREAM_UNMATCHED_RECEIVED = Counter(
    "openpool_stream_unmatched_received",
    "AI job-received events that expired without a job-processed partner (worker errors).",
)

# --- payments: the payout WAL and the payer (no addresses as labels) ---
PAYOUTS = Gauge(
    "openpool_payouts",
    "Payouts in the WAL by outcome: pending (not terminal), confirmed (paid), "
    "failed (failed on chain or resolved unpaid).",
    ["state"],
)
PAYOUTS_WEI = Gauge(
    "openpool_payouts_wei",
    "Sum of the payout amounts in the WAL by outcome (see openpool_payouts).",
    ["state"],
)
PAYOUT_OLDEST_OPEN_AGE = Gauge(
    "openpool_payout_oldest_open_age_seconds",
    "Age of the oldest payout not yet terminal (since its INTENT), as of the last WAL read; 0 when none is open.",
)
PAYER_HALTED = Gauge(
    "openpool_payer_halted",
    "1 while payouts are halted: a payout awaits an operator (`openpool payments resolve`).",
)
PAYER_BALANCE_WEI = Gauge(
    "openpool_payer_balance_wei",
    "Balance of the payer's hot wallet at the end of the last payout round.",
)
PAYER_NONCE = Gauge(
    "openpool_payer_nonce",
    "The payer's next nonce as the WAL knows it (local) and as the node counts it (chain_pending, chain_latest).",
    ["source"],
)
PAYOUT_ROUNDS = Counter(
    "openpool_payout_rounds",
    "Payout rounds by outcome: completed, kill_switch, stopped (a payout could not be completed), fenced, failed.",
    ["outcome"],
)

# --- consumer lag, per partition a process consumes (labels join the broker-side exporters: docs/metrics.md) ---
CONSUMER_LAG_RECORDS = Gauge(
    "openpool_consumer_lag_records",
    "Records not yet processed: the partition's highwater minus the group's committed offset (or position).",
    ["consumer_group", "topic", "partition"],
)
CONSUMER_LAG_SECONDS = Gauge(
    "openpool_consumer_lag_seconds",
    "Now minus the timestamp of the last processed record while records wait behind it; 0 once caught up.",
    ["consumer_group", "topic", "partition"],
)

# --- stream worker: processing, rebalances, tables, build ---
RECORDS_PROCESSED = Counter(
    "openpool_records_processed",
    "Records an agent finished (applied, skipped as duplicate, or dead-lettered), by stage.",
    ["stage"],
)
BATCH_DURATION = Histogram(
    "openpool_batch_duration_seconds",
    "Time an agent spent on one batch of records: applying them and checkpointing, retries included, by stage.",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BATCH_RECORDS_TAKEN = Histogram(
    "openpool_batch_records",
    "Records in one batch an agent took, by stage.",
    ["stage"],
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000),
)
CHECKPOINT_RETRIES = Counter(
    "openpool_checkpoint_retries",
    "Batch checkpoints tried again after the broker refused an output or a table write, by stage.",
    ["stage"],
)
REBALANCES = Counter(
    "openpool_rebalances",
    "Partition assignments this worker received (each rebalance of its consumer group).",
)

OFFSET_GAPS = Counter(
    "openpool_offset_gaps",
    "Records Faust delivered past an undelivered one, or none at all while some waited; the reader rewound to the"
    " missing record (by stage; `assignment` when no record of a newly assigned partition reached any reader).",
    ["stage"],
)
COMMITS_HELD = Counter(
    "openpool_commits_held",
    "Commits held back because the record at the committed offset was not processed yet (by topic).",
    ["topic"],
)
TABLE_RECOVERY_IN_PROGRESS = Gauge(
    "openpool_table_recovery_in_progress",
    "1 while the worker restores its tables from their changelogs (not ready), else 0.",
)
TABLE_KEYS = Gauge(
    "openpool_table_keys",
    "Keys per table in the table partitions this worker owns.",
    ["table"],
)
BUILD_INFO = Gauge(
    "openpool_build_info",
    "1, labelled with the running version.",
    ["version"],
)
