"""Vision: face detection, tracking and the ONNX expression model (frames → observations).

Built on the contracts of ``kioskpulse.events``; see docs/vision.md.
"""
