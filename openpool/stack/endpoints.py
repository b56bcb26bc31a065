"""How to reach a running stack, as values and as the environment variables that openpool.settings reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openpool.stack.anvil import CHAIN_ID
from openpool.stack.s3 import (
    ACCESS_KEY_ID,
    ARCHIVE_BUCKET,
    EVENTS_BUCKET,
    METRICS_BUCKET,
    REGION,
    SECRET_ACCESS_KEY,
)


@dataclass(frozen=True)
class StackEndpoints:
    kafka_bootstrap: str
    s3_endpoint: str
    eth_rpc: str
    keystore_file: Path
    keystore_password_file: Path

    def as_env(self) -> dict[str, str]:
        """The settings for this stack. The payer's key and password appear only as paths to their files."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "S3_ENDPOINT": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_REGION": REGION,
            "S3_BUCKET": EVENTS_BUCKET,
            "S3_METRICS_BUCKET": METRICS_BUCKET,
            "S3_ARCHIVE_BUCKET": ARCHIVE_BUCKET,
            "ETH_RPC_ENDPOINT": self.eth_rpc,
            "CHAIN_ID": str(CHAIN_ID),
            "ETH_PRIVATE_KEY": str(self.keystore_file),
            "ETH_KEYSTORE_PASSWORD": str(self.keystore_password_file),
        }
