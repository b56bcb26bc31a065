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
