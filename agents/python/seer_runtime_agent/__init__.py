"""Seer runtime agent: registers with a Seer coordinator over ZeroMQ (docs/PROTOCOL.md, SEER1 revision 2) and
measures compressed ONNX artifacts with onnxruntime."""

__version__ = "0.1.0"
