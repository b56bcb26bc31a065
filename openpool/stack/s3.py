"""S3 for the local stack: moto's standalone server, with the buckets the pipeline reads and writes."""

from __future__ import annotations

import importlib.util
import sys
import urllib.error
import urllib.request

import botocore.session
from botocore.exceptions import ClientError

from openpool.stack.errors import StackStartError

EVENTS_BUCKET = "open-pool-events"
METRICS_BUCKET = "open-pool-metrics"
ARCHIVE_BUCKET = "open-pool-events-archive"
STACK_BUCKETS = (EVENTS_BUCKET, METRICS_BUCKET, ARCHIVE_BUCKET)
REGION = "us-east-1"
# moto accepts any credentials; these only have to be present so that clients sign their requests.
ACCESS_KEY_ID = "openpool"
SECRET_ACCESS_KEY = "openpool"


class MotoServer:
    """`moto_server` as a separate process: it does not share the GIL of the tests that use it."""

    name = "s3"

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,)

    def prepare(self) -> None:
        if importlib.util.find_spec("moto.server") is None:
            raise StackStartError("moto is missing: install the dev extras (pip install -e '.[dev]')")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]

    def answers(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/", timeout=timeout) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def provision(self) -> None:
        """Create the pipeline's buckets; moto keeps them in memory, so this runs after every start."""
        create_stack_buckets(self.endpoint)


def create_stack_buckets(endpoint: str) -> None:
    """Create the buckets the pipeline reads and writes, keeping those that exist."""
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    try:
        for bucket in STACK_BUCKETS:
            try:
                client.create_bucket(Bucket=bucket)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise
    finally:
        client.close()
