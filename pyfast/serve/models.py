"""The service's style models: ``.onnx`` files of one folder, looked up by name only."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from ..runtime import Engine

# A model name as it may appear in a URL: no separators, no leading dot.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class UnknownModel(LookupError):
    """The requested model is not one the service lists."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    path: Path


def _descriptions(folder: Path) -> dict[str, str]:
    """name -> description from a zoo.json in ``folder`` (pyfast's zoo format), if there is one."""
    index = folder / "zoo.json"
    try:
        entries = json.loads(index.read_text(encoding="utf-8"))
        return {e["name"]: e.get("description", "") for e in entries}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


class ModelStore:
    """The ``.onnx`` files directly inside ``folder``, each served under its file stem.

    The listing is made once, at construction; a request's model name is only ever a
    key into it, so nothing a client sends becomes a path. One :class:`Engine` per
    model is created on first use and shared by every request (``Engine.run`` is
    thread-safe).

    Args:
        folder: where the models are; None: the shipped zoo.
        providers, threads: passed to every :class:`Engine`.

    Raises:
        FileNotFoundError: ``folder`` does not exist. ValueError: it holds no usable model.
    """

    def __init__(self, folder: str | Path | None = None, providers: str = "auto", threads: int | None = None) -> None:
        if folder is None:
            from ..zoo import ZOO_DIR

            folder = ZOO_DIR
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"no such models folder: {self.folder}")
        descriptions = _descriptions(self.folder)
        self.models: dict[str, ModelInfo] = {
            p.stem: ModelInfo(p.stem, descriptions.get(p.stem, ""), p)
            for p in sorted(self.folder.glob("*.onnx"))
            if p.is_file() and MODEL_NAME.match(p.stem)
        }
        if not self.models:
            raise ValueError(f"no .onnx models in {self.folder}")
        self.providers = providers
        self.threads = threads
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self.models)

    def info(self, name: str) -> ModelInfo:
        """The listed model ``name``. Raises UnknownModel for anything else."""
        if not isinstance(name, str) or not MODEL_NAME.match(name) or name not in self.models:
            raise UnknownModel(f"unknown model; available: {', '.join(self.models)}")
        return self.models[name]

    def engine(self, name: str) -> Engine:
        """The shared Engine of model ``name`` (loaded on first use)."""
        info = self.info(name)
        with self._lock:
            engine = self._engines.get(name)
            if engine is None:
                engine = self._engines[name] = Engine(info.path, providers=self.providers, threads=self.threads)
            return engine

    def load_all(self) -> None:
        """Creates every model's Engine now (the service is ready after this).

        Raises:
            ValueError: a model that is not image-to-image (one (B, 3, H, W) input and output),
                such as a generator network's (B, latent) -> image, named with what it takes.
        """
        for name in self.models:
            engine = self.engine(name)
            if len(engine.inputs) != 1 or len(engine.outputs) < 1:
                raise ValueError(f"{self.models[name].path} is not a style model: it has {len(engine.inputs)} "
                                 f"inputs and {len(engine.outputs)} outputs, and the service stylises one image")
            shapes = [engine.inputs[0].shape, engine.outputs[0].shape]
            if any(len(shape) != 4 or shape[1] != 3 for shape in shapes):
                raise ValueError(f"{self.models[name].path} is not a style model: it maps {engine.inputs[0].name} "
                                 f"{engine.inputs[0].shape} to {engine.outputs[0].shape}, and the service stylises "
                                 f"(B, 3, H, W) images")

    @property
    def loaded(self) -> list[str]:
        return list(self._engines)
