"""`openpool bench`: throughput, latency, recovery and payout figures, each against a same-run baseline."""
