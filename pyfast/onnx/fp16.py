"""float32 -> float16 conversion of an ONNX graph, keeping float32 inputs and outputs."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Inputs that ONNX requires to stay float32 whatever the data type (op type -> input indices).
_FLOAT32_ONLY_INPUTS = {"Resize": (1, 2), "Upsample": (1,)}


def convert_to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Returns a copy of ``model`` computing in float16.

    Float initializers and constants become float16 (except the inputs ONNX
    keeps float32, such as Resize scales); each float32 graph input is cast to
    float16 on entry and each output back to float32, so callers feed and get
    float32 as before. Values outside float16's range saturate.

    Raises:
        ValueError: ``model`` is already such a float16 model (its cast nodes would clash).
    """
    if any(node.op_type == "Cast" and node.name.startswith("cast_") and node.name.endswith("__fp16")
           for node in model.graph.node):
        raise ValueError("the model already computes in float16 (it has pyfast's float16 input/output casts)")
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    keep32 = {
        node.input[i]
        for node in graph.node
        for i in _FLOAT32_ONLY_INPUTS.get(node.op_type, ())
        if i < len(node.input) and node.input[i]
    }

    def to16(tensor: onnx.TensorProto) -> onnx.TensorProto:
        array = numpy_helper.to_array(tensor)
        info = np.finfo(np.float16)
        return numpy_helper.from_array(np.clip(array, info.min, info.max).astype(np.float16), tensor.name)

    for i, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT and init.name not in keep32:
            graph.initializer[i].CopyFrom(to16(init))
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] not in keep32:
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    attr.t.CopyFrom(to16(attr.t))
        if node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i == TensorProto.FLOAT:
                    attr.i = TensorProto.FLOAT16

    def renamed(name: str, new: str, field: str) -> None:
        for node in graph.node:
            names = getattr(node, field)
            for k, current in enumerate(names):
                if current == name:
                    names[k] = new

    casts_in, casts_out = [], []
    for value in graph.input:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            inner = f"{value.name}__fp16"
            renamed(value.name, inner, "input")
            casts_in.append(helper.make_node("Cast", [value.name], [inner], to=TensorProto.FLOAT16, name=f"cast_{inner}"))
    for value in graph.output:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            inner = f"{value.name}__fp16"
            renamed(value.name, inner, "output")
            casts_out.append(helper.make_node("Cast", [inner], [value.name], to=TensorProto.FLOAT, name=f"cast_{inner}"))
    nodes = casts_in + list(graph.node) + casts_out
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    return model
