"""The read-only HTTP API on Faust's web server, served from the read models.

The built-in `/table` and `/router` endpoints are off (stream_app/app.py); these views only read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eth_utils.address import is_hex_address, to_checksum_address
from faust.web import Request, Response, View

from stream_app.agents.exports import performance_documents
from stream_app.app import StreamApp
from stream_app.read_models import ReadModel
from stream_app.readiness import readiness_conditions


def register_views(stream_app: StreamApp, read_models: dict[str, ReadModel]) -> None:
    app = stream_app.app
    earnings = read_models["earnings"]
    connections = read_models["connections"]

    def workers() -> dict[str, dict[str, Any]]:
        listed: dict[str, dict[str, Any]] = {}
        for address, model in earnings.values.items():
            listed[address] = {"earnings": model, "presence": []}
        for workers_of_partition in connections.values.values():
            for worker in workers_of_partition:
                entry = listed.setdefault(worker["eth_address"], {"earnings": None, "presence": []})
                entry["presence"].append(worker)
        return listed

    @app.page("/workers")
    class Workers(View):
        async def get(self, request: Request) -> Response:
            return self.json({"workers": workers()})

    @app.page("/workers/{address}")
    class Worker(View):
        async def get(self, request: Request, address: str) -> Response:
            if not is_hex_address(address):
                return self.json({"error": "not an Ethereum address"}, status=400)
            found = workers().get(to_checksum_address(address))
            if found is None:
                return self.json({"error": "unknown worker"}, status=404)
            return self.json(found)

    @app.page("/pool")
    class Pool(View):
        async def get(self, request: Request) -> Response:
            models = list(earnings.values.values())
            return self.json(
                {
                    "workers": len(models),
                    "total_fees": sum(int(m["total_fees"]) for m in models),
                    "pool_commission": sum(int(m["pool_commission"]) for m in models),
                    "worker_earnings": sum(int(m["worker_earnings"]) for m in models),
                    "job_count": sum(int(m["job_count"]) for m in models),
                    "correlation": read_models["pool_totals"].values,
                    "active_workers": len(
                        {w["eth_address"] for ws in connections.values.values() for w in ws if w["active"]}
                    ),
                }
            )

    @app.page("/performance")
    class Performance(View):
        async def get(self, request: Request) -> Response:
            return self.json(performance_documents(stream_app.settings, read_models["performance"], datetime.now(UTC)))

    @app.page("/readyz")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            conditions = readiness_conditions(app)
            ready = all(conditions.values())
            return self.json({"ready": ready, "conditions": conditions}, status=200 if ready else 503)

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})
