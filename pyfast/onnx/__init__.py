"""Export to ONNX: style models (``export_style``), float16 conversion."""

from .export import ExportReport, export_style
from .fp16 import convert_to_float16

__all__ = ["ExportReport", "convert_to_float16", "export_style"]
