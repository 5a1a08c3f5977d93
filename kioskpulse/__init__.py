"""kioskpulse: kiosk ratings and camera expressions, joined per store in real time.

This package is the shared core: settings, event contracts, topics, the device
registry and the device client, the message bus, the simulator and the command
line. Importing any of it imports neither FastAPI, uvicorn nor faust, so every
process can use the contracts. The assemblies (``cli`` and ``embedded``, the demo)
import the API, the stages and the exporter inside the functions that start them
(docs/architecture.md; tests/unit/test_architecture.py checks it).
"""

__version__ = "0.1.0"
