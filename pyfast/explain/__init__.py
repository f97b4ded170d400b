"""Understanding CNNs (cs231n lecture 12): attribution, visualisation and feature tools.

Every method takes a model (``torch.nn.Module``; forward-only methods also an ONNX file or
:class:`pyfast.runtime.Engine`), an image batch (N, C, H, W) in the model's input space and
its options, returns numpy arrays (or a small result dataclass of them), and leaves the
caller's model and tensors unchanged.
"""

from ._common import LayerCapture, ModelSpec, Preprocessing, as_batch, get_layer, model_guard, resolve_targets

__all__ = ["LayerCapture", "ModelSpec", "Preprocessing", "as_batch", "get_layer", "model_guard", "resolve_targets"]
