"""A faust agent that does nothing with its events: the framework's own ceiling.

Run by bench/stream.py in its own process, on the same records the aggregator
reads, with the same batching (take_events) and the same raw serialisers; it prints
its events/s as JSON to ``$NOOP_RESULT`` once it has seen ``$NOOP_EVENTS`` events.

    NOOP_GROUP=G NOOP_EVENTS=N NOOP_RESULT=out.json .venv/bin/python bench/faust_noop.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import faust


def main() -> None:
    group, events = os.environ["NOOP_GROUP"], int(os.environ["NOOP_EVENTS"])
    batch = int(os.environ.get("NOOP_BATCH", "5000"))
    app = faust.App(
        group,
        broker=f"kafka://{os.environ.get('NOOP_BOOTSTRAP', '127.0.0.1:9092')}",
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        web_port=int(os.environ.get("NOOP_WEB_PORT", "6099")),
        datadir=os.environ["NOOP_DATADIR"],
    )
    seen, first = 0, 0.0
    topics = os.environ.get("NOOP_TOPICS", "kiosk.ratings.v1,kiosk.heartbeats.v1,camera.faces.v1")

    @app.agent(app.topic(*topics.split(",")))
    async def noop(stream: Any) -> None:
        nonlocal seen, first
        async for batch_events in stream.take_events(batch, within=0.2):
            first = first or time.perf_counter()
            seen += len(batch_events)
            if seen >= events:
                rate = events / (time.perf_counter() - first)
                # faust captures stdout: the result goes to a file.
                result = Path(os.environ["NOOP_RESULT"])
                result.write_text(json.dumps({"events_per_s": rate}))  # noqa: ASYNC240 (exits next)
                os._exit(0)  # no graceful stop needed: nothing to commit or flush

    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()


if __name__ == "__main__":
    main()
