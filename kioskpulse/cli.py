"""The ``kioskpulse`` command: devices, the API, the exporter, the embedded demo.

Subcommands import what they run lazily, so ``kioskpulse devices ...`` starts fast
and the core never depends on the API or the stream processors.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kioskpulse import __version__
from kioskpulse.devices import RegistryError, RegistryFileError
from kioskpulse.devices_cli import add_devices_commands
from kioskpulse.settings import Settings

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (RegistryError, RegistryFileError) as exc:
        print(f"kioskpulse: error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        print(f"kioskpulse: invalid settings (KIOSKPULSE_* variables): {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kioskpulse", description="Real-time customer feedback from kiosks and cameras."
    )
    parser.add_argument("--version", action="version", version=f"kioskpulse {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    add_devices_commands(commands)

    api = commands.add_parser("api", help="serve the kiosk API (uvicorn)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--devices-file", type=Path, help="default: $KIOSKPULSE_DEVICES_FILE")
    api.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    api.set_defaults(handler=_run_api)

    worker = commands.add_parser("worker", help="run the stream processors (faust) against Kafka")
    worker.add_argument("--web-port", type=int, help="faust's web/metrics port (default 6066)")
    worker.add_argument("--datadir", type=Path, help="faust's state directory, one per worker")
    worker.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    worker.set_defaults(handler=_run_worker)
    _add_exporter_command(commands)

    agent = commands.add_parser(
        "camera-agent",
        help="read a camera (file, device or URL) and post frames or, privacy-first, observations",
    )
    agent.add_argument("--source", required=True, help="a video file, a device number or a URL")
    agent.add_argument("--camera-id", required=True)
    agent.add_argument(
        "--token", default=os.environ.get("KIOSKPULSE_CAMERA_TOKEN"),
        help="the camera's token (default: $KIOSKPULSE_CAMERA_TOKEN)",
    )  # fmt: skip
    agent.add_argument("--api", required=True, help="the kiosk API's base URL")
    agent.add_argument("--fps", type=float, default=2.0, help="frames sampled per second")
    agent.add_argument(
        "--mode", choices=["frames", "observations"], default="observations",
        help="observations (default) keeps images in the store; frames posts JPEGs",
    )  # fmt: skip
    agent.add_argument(
        "--min-face-px", type=int, metavar="PX",
        help="observations mode: the smallest face to look for (default 24; in frames "
        "mode the camera's setting in the devices file applies)",
    )  # fmt: skip
    agent.add_argument(
        "--upload-seconds", type=float, default=2.0, metavar="S",
        help="gather observations this long before each upload (fewer requests and Kafka "
        "records; adds up to S to freshness); 0 = post at once",
    )  # fmt: skip
    agent.set_defaults(handler=_run_camera_agent)

    demo = commands.add_parser(
        "demo", help="run the whole pipeline in one process with simulated devices"
    )
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--api-port", type=int, default=8000)
    demo.add_argument("--exporter-port", type=int, default=9108, help="/metrics and JSON API")
    demo.add_argument("--devices-file", type=Path, help="default: a fresh demo registry")
    demo.add_argument("--no-simulator", action="store_true", help="only serve; post yourself")
    demo.add_argument("--duration", type=float, help="stop after this many seconds")
    demo.add_argument(
        "--rate", type=float, default=1.0, help="simulated visitors per second per store"
    )
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument(
        "--no-history",
        action="store_true",
        help="start with no past (default: an hour of simulated history, posted at the start)",
    )
    demo.add_argument(
        "--incident",
        dest="incidents",
        type=_incident,
        action="append",
        default=[],
        metavar="KIND:TARGET@START[+DURATION]",
        help="make something go wrong, e.g. unhappy:store-2@3m, "
        "silent-kiosk:store-1-kiosk-1@2m+10m, silent-camera:store-3-floor-1@1m (repeatable)",
    )
    demo.add_argument(
        "--no-prometheus", action="store_true", help="no Prometheus and Alertmanager beside it"
    )
    demo.add_argument("--prometheus-port", type=int, default=9090)
    demo.add_argument("--alertmanager-port", type=int, default=9093)
    demo.add_argument(
        "--alert-webhook", metavar="URL", help="where Alertmanager sends its notifications"
    )
    demo.set_defaults(handler=_run_demo)
    _add_simulate_command(commands)
    return parser


# --------------------------------------------------------------------------- services


def _run_api(args: argparse.Namespace) -> int:
    import uvicorn

    from kiosk_api import create_app

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides = {"devices_file": args.devices_file} if args.devices_file else {}
    settings = Settings(**overrides)
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0


def _run_worker(args: argparse.Namespace) -> int:
    import asyncio

    import faust

    from kioskpulse.bus.kafka import create_topics_when_reachable
    from kioskpulse.topics import topic_specs
    from stream_processors.faust_app import create_worker

    overrides: dict[str, Any] = {}
    if args.web_port is not None:
        overrides["faust_web_port"] = args.web_port
    if args.datadir is not None:
        overrides["faust_datadir"] = args.datadir
    settings = Settings(**overrides)
    # faust creates only its internal topics; the source topics must exist first
    # (a worker started during a broker outage waits for the broker here).
    asyncio.run(create_topics_when_reachable(settings, topic_specs(settings)))
    worker = create_worker(settings)
    faust.Worker(worker.app, loglevel=args.log_level).execute_from_commandline()
    return 0


def _add_exporter_command(commands: Any) -> None:
    exporter = commands.add_parser(
        "exporter",
        help="serve /metrics and the read-only JSON API from store.aggregates.v1 (Kafka)",
    )
    exporter.add_argument("--host", default="127.0.0.1")
    exporter.add_argument("--port", type=int, help="default: $KIOSKPULSE_EXPORTER_PORT (9108)")
    exporter.add_argument("--devices-file", type=Path, help="default: $KIOSKPULSE_DEVICES_FILE")
    exporter.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    exporter.set_defaults(handler=_run_exporter)


def _run_exporter(args: argparse.Namespace) -> int:
    from stream_processors.exporter.run import run_exporter

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides = {"devices_file": args.devices_file} if args.devices_file else {}
    settings = Settings(**overrides)
    port = args.port if args.port is not None else settings.exporter_port
    return run_exporter(settings, args.host, port, log_level=args.log_level)


def _run_camera_agent(args: argparse.Namespace) -> int:
    import asyncio

    from vision.edge import MAX_UPLOAD_SECONDS, AgentOptions, EdgeAgent

    if not args.token:
        raise SystemExit("kioskpulse camera-agent: give --token or set KIOSKPULSE_CAMERA_TOKEN")
    if args.fps <= 0:
        raise SystemExit("kioskpulse camera-agent: --fps must be positive")
    if args.min_face_px is not None and not 12 <= args.min_face_px <= 1000:
        raise SystemExit("kioskpulse camera-agent: --min-face-px must be 12..1000")
    if not 0 <= args.upload_seconds <= MAX_UPLOAD_SECONDS:
        raise SystemExit(
            f"kioskpulse camera-agent: --upload-seconds must be 0..{MAX_UPLOAD_SECONDS:g}"
        )
    options = AgentOptions(
        source=args.source,
        camera_id=args.camera_id,
        token=args.token,
        api=args.api,
        fps=args.fps,
        mode=args.mode,
        min_face_px=args.min_face_px,
        upload_seconds=args.upload_seconds,
    )
    try:
        asyncio.run(EdgeAgent(options).run())
    except (OSError, RuntimeError) as exc:
        print(f"kioskpulse camera-agent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from kioskpulse.embedded import DemoOptions, run_demo

    return run_demo(
        DemoOptions(
            host=args.host,
            api_port=args.api_port,
            exporter_port=args.exporter_port,
            devices_file=args.devices_file,
            simulate=not args.no_simulator,
            duration=args.duration,
            rate=args.rate,
            seed=args.seed,
            history=0.0 if args.no_history else 3600.0,
            incidents=tuple(args.incidents),
            prometheus=not args.no_prometheus,
            prometheus_port=args.prometheus_port,
            alertmanager_port=args.alertmanager_port,
            alert_webhook=args.alert_webhook,
        )
    )


def _incident(text: str) -> Any:
    from kioskpulse.simulation.incidents import parse_incident

    try:
        return parse_incident(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --------------------------------------------------------------------------- simulate


def _add_simulate_command(commands: Any) -> None:
    def positive(text: str) -> float:
        value = float(text)
        if not value > 0:  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value

    def at_least_one(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
        return value

    simulate = commands.add_parser(
        "simulate",
        help="play visitors of known mood as kiosks and cameras posting to an API",
        description="Simulated visitors with a known true satisfaction press kiosk buttons "
        "(the unhappy more often, by default) and are seen by the cameras; the devices "
        "post through the API with their own tokens, from tokens.yaml beside the devices "
        "file. Prints progress and, at the end, each store's true Happy Index.",
    )
    simulate.add_argument("--api", required=True, help="the kiosk API's base URL")
    simulate.add_argument(
        "--devices-file", type=Path, required=True,
        help="the registry; the devices' tokens are read from tokens.yaml beside it",
    )  # fmt: skip
    simulate.add_argument(
        "--stores", type=at_least_one, help="simulate the first N stores (sorted ids; default all)"
    )
    simulate.add_argument("--duration", type=positive, help="seconds (default: until Ctrl-C)")
    simulate.add_argument(
        "--rate", type=positive, default=0.5, help="visitors per second per store (0.5)"
    )
    simulate.add_argument("--seed", type=int, default=1, help="fixes every store's true mood")
    simulate.add_argument(
        "--propensity-ratio", type=positive, default=3.0, metavar="X",
        help="how much likelier the unhappiest visitors press than the happiest "
        "(3; below 1 the happy press more)",
    )  # fmt: skip
    simulate.add_argument(
        "--truth-out", type=Path, metavar="FILE", help="write the ground truth as JSON at the end"
    )
    simulate.set_defaults(handler=_run_simulate)


def _run_simulate(args: argparse.Namespace) -> int:
    from kioskpulse.simulation.console import SimulateOptions, run_simulate

    return run_simulate(
        SimulateOptions(
            api=args.api,
            devices_file=args.devices_file,
            stores=args.stores,
            duration=args.duration,
            rate=args.rate,
            seed=args.seed,
            propensity_ratio=args.propensity_ratio,
            truth_out=args.truth_out,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
