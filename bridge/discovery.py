"""Which `{region}/{node_type}/` prefixes exist in the source bucket: all that are found, none hard-coded."""

from __future__ import annotations

import logging

from bridge.s3 import ObjectStore

log = logging.getLogger(__name__)


async def discover_prefixes(store: ObjectStore, bucket: str, *, excluded: str | None = None) -> list[str]:
    """Every second-level prefix of the bucket, e.g. `us-central/ai/`, sorted.

    `excluded` is a key prefix the bridge itself writes to (the archive, when it lives in the same bucket);
    what lies under it is not source data.
    """
    prefixes: list[str] = []
    for region in await store.common_prefixes(bucket):
        if is_excluded(region, excluded):
            continue
        for prefix in await store.common_prefixes(bucket, region):
            if not is_excluded(prefix, excluded):
                prefixes.append(prefix)
    return sorted(prefixes)


def is_excluded(prefix: str, excluded: str | None) -> bool:
    return bool(excluded) and prefix.startswith(excluded or "")
