"""The style-transfer service: HTTP + WebSocket (FastAPI on uvicorn) with dynamic batching,
the browser webcam page, and ``pyfast serve`` / ``pyfast webcam`` / ``pyfast export triton``."""

from .app import create_app
from .batcher import BatcherClosed, DynamicBatcher, QueueFull
from .config import ServeConfig, is_loopback
from .models import ModelStore, UnknownModel

__all__ = ["BatcherClosed", "DynamicBatcher", "ModelStore", "QueueFull", "ServeConfig", "UnknownModel",
           "create_app", "is_loopback"]
