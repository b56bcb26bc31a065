"""When a stream worker is ready: partitions assigned, and its tables restored from their changelogs.

The read API's `/readyz` (Faust's web port) asks it from the event loop; the metrics port's `/readyz` reads
the copy the worker's heartbeat timer takes every second, since that endpoint answers from another thread.
"""

from __future__ import annotations

from typing import Any

import faust


def readiness_conditions(app: faust.App) -> dict[str, bool]:
    """Call from the app's event loop (it may create the consumer)."""
    assigned = bool(app.consumer.assignment()) if app.consumer is not None else False
    recovery: Any = getattr(app.tables, "recovery", None)  # on the concrete TableManager only
    recovered = recovery is not None and recovery.completed.is_set()
    return {"partitions_assigned": assigned, "tables_recovered": recovered}
