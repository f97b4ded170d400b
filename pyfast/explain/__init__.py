"""Understanding CNNs (cs231n lecture 12): attribution, visualisation and feature tools.

Every method takes a model (``torch.nn.Module``; occlusion also an ONNX file or a
:class:`pyfast.runtime.Engine`), an image batch (N, C, H, W) in the model's input space and
its options, returns numpy arrays (or a small result dataclass of them), and leaves the
caller's model and tensors unchanged. :mod:`pyfast.explain.render` turns results into
pictures; :func:`load_model_spec` gives the shipped classifier or the user's own.

=====================  ===========================================================
attribution            :func:`saliency`, :func:`smoothgrad`, :func:`guided_backprop`,
                       :func:`occlusion`
synthesis              :func:`class_visualization`, :func:`fooling_images`,
                       :func:`deepdream`, :func:`feature_inversion`,
                       :func:`texture_synthesis`, :func:`style_transfer`
features               :func:`activation_maps`, :func:`top_activating_patches`,
                       :func:`receptive_field`, :func:`feature_neighbours`,
                       :func:`extract_features`, :func:`embed_2d`
=====================  ===========================================================
"""

import importlib

# Public name -> submodule. Imported on first use, so that `pyfast explain --help` (and
# anything else that only touches the package) does not pay for torch.
_EXPORTS = {
    "render": None,
    **dict.fromkeys(["LayerCapture", "ModelSpec", "Preprocessing", "as_batch", "get_layer", "model_guard",
                     "resolve_targets"], "_common"),
    **dict.fromkeys(["ReceptiveField", "TopPatches", "activation_maps", "embed_2d", "extract_features",
                     "feature_neighbours", "receptive_field", "top_activating_patches"], "activations"),
    **dict.fromkeys(["ClassVisualization", "class_visualization"], "class_visualization"),
    "deepdream": "deepdream",
    **dict.fromkeys(["FoolingResult", "fooling_images"], "fooling"),
    **dict.fromkeys(["GatysResult", "style_transfer", "texture_synthesis"], "gatys"),
    "guided_backprop": "guided",
    **dict.fromkeys(["FeatureInversion", "feature_inversion"], "inversion"),
    "load_model_spec": "models",
    "occlusion": "occlusion",
    **dict.fromkeys(["gradient", "saliency", "smoothgrad"], "saliency"),
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _EXPORTS[name]
    if module is None:
        return importlib.import_module(f".{name}", __name__)
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    # Cache it; for saliency/deepdream/occlusion this also replaces the submodule that the
    # import bound to the same name, as `from .saliency import saliency` would.
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [
    "ClassVisualization", "FeatureInversion", "FoolingResult", "GatysResult", "LayerCapture", "ModelSpec",
    "Preprocessing", "ReceptiveField", "TopPatches", "activation_maps", "as_batch", "class_visualization",
    "deepdream", "embed_2d", "extract_features", "feature_inversion", "feature_neighbours", "fooling_images",
    "get_layer", "gradient", "guided_backprop", "load_model_spec", "model_guard", "occlusion", "receptive_field",
    "render", "resolve_targets", "saliency", "smoothgrad", "style_transfer", "texture_synthesis",
    "top_activating_patches",
]
