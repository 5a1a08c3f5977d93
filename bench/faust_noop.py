"""A faust agent that does nothing with its records: the framework's own ceiling.

Run by bench/stream.py in its own process, on the same records the aggregator
reads, with the same batching (take_events), the same raw serialisers and the same
faust settings (``faust_tuning``, from the same ``KIOSKPULSE_*`` environment); it
prints its records/s as JSON to ``$NOOP_RESULT`` once it has seen ``$NOOP_EVENTS``
records. It does not open batch records: bench/stream.py turns records/s into
events/s with the records' mean number of events.

    NOOP_GROUP=G NOOP_RECORDS=N NOOP_RESULT=out.json .venv/bin/python bench/faust_noop.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import faust

from kioskpulse.settings import Settings
from stream_processors.faust_tuning import faust_tuning


def main() -> None:
    group, records = os.environ["NOOP_GROUP"], int(os.environ["NOOP_RECORDS"])
    settings = Settings()
    app = faust.App(
        group,
        broker=f"kafka://{os.environ.get('NOOP_BOOTSTRAP', '127.0.0.1:9092')}",
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        web_port=int(os.environ.get("NOOP_WEB_PORT", "6099")),
        datadir=os.environ["NOOP_DATADIR"],
        **faust_tuning(settings),
    )
    seen, first = 0, 0.0
    topics = os.environ.get("NOOP_TOPICS", "kiosk.ratings.v1,kiosk.heartbeats.v1,camera.faces.v1")

    @app.agent(app.topic(*topics.split(",")))
    async def noop(stream: Any) -> None:
        nonlocal seen, first
        batches = stream.take_events(
            settings.aggregate_batch_size, within=settings.aggregate_batch_seconds
        )
        async for batch_events in batches:
            first = first or time.perf_counter()
            seen += len(batch_events)
            if seen >= records:
                rate = records / (time.perf_counter() - first)
                # faust captures stdout: the result goes to a file.
                result = Path(os.environ["NOOP_RESULT"])
                result.write_text(json.dumps({"records_per_s": rate}))  # noqa: ASYNC240 (exits next)
                os._exit(0)  # no graceful stop needed: nothing to commit or flush

    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()


if __name__ == "__main__":
    main()
