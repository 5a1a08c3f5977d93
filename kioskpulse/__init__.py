"""kioskpulse: kiosk ratings and camera expressions, joined per store in real time.

This package is the shared core: settings, event contracts, topics, the device
registry, the message bus abstraction and the command line. It imports neither
FastAPI nor faust, so every process can use the contracts.
"""

__version__ = "0.1.0"
