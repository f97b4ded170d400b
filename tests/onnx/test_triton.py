"""The Triton repository export, parsed against Triton's model-configuration schema.

The schema below is the subset of Triton's model_config.proto (package inference) that
the exporter may write, rebuilt here as a protobuf descriptor (field names, numbers,
types and enum values as in Triton's file); text_format.Parse rejects any field, enum
value or type that is not in it.
"""

import numpy as np
import onnx
import pytest
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
)
from onnx import TensorProto, helper

from pyfast.onnx.triton import TritonOptions, export_triton, format_pbtxt, triton_config
from pyfast.zoo import get_style

F = descriptor_pb2.FieldDescriptorProto
DATA_TYPES = ["TYPE_INVALID", "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32", "TYPE_UINT64", "TYPE_INT8",
              "TYPE_INT16", "TYPE_INT32", "TYPE_INT64", "TYPE_FP16", "TYPE_FP32", "TYPE_FP64", "TYPE_STRING", "TYPE_BF16"]


def _field(message, name, number, kind, label=F.LABEL_OPTIONAL, type_name=None):
    field = message.field.add(name=name, number=number, type=kind, label=label)
    if type_name:
        field.type_name = type_name


def model_config_schema():
    """A ModelConfig message class for the subset of model_config.proto used by the exporter."""
    file = descriptor_pb2.FileDescriptorProto(name="pyfast_test_model_config.proto", package="inference", syntax="proto3")
    data_type = file.enum_type.add(name="DataType")
    for number, name in enumerate(DATA_TYPES):
        data_type.value.add(name=name, number=number)
    R = F.LABEL_REPEATED

    group = file.message_type.add(name="ModelInstanceGroup")
    kind = group.enum_type.add(name="Kind")
    for number, name in enumerate(["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"]):
        kind.value.add(name=name, number=number)
    _field(group, "name", 1, F.TYPE_STRING)
    _field(group, "count", 2, F.TYPE_INT32)
    _field(group, "gpus", 3, F.TYPE_INT32, R)
    _field(group, "kind", 4, F.TYPE_ENUM, type_name=".inference.ModelInstanceGroup.Kind")

    model_input = file.message_type.add(name="ModelInput")
    _field(model_input, "name", 1, F.TYPE_STRING)
    _field(model_input, "data_type", 2, F.TYPE_ENUM, type_name=".inference.DataType")
    _field(model_input, "dims", 4, F.TYPE_INT64, R)
    _field(model_input, "optional", 8, F.TYPE_BOOL)
    model_output = file.message_type.add(name="ModelOutput")
    _field(model_output, "name", 1, F.TYPE_STRING)
    _field(model_output, "data_type", 2, F.TYPE_ENUM, type_name=".inference.DataType")
    _field(model_output, "dims", 3, F.TYPE_INT64, R)
    _field(model_output, "label_filename", 4, F.TYPE_STRING)

    batching = file.message_type.add(name="ModelDynamicBatching")
    _field(batching, "preferred_batch_size", 1, F.TYPE_INT32, R)
    _field(batching, "max_queue_delay_microseconds", 2, F.TYPE_UINT64)
    _field(batching, "preserve_ordering", 3, F.TYPE_BOOL)

    policy = file.message_type.add(name="ModelOptimizationPolicy")
    accelerators = policy.nested_type.add(name="ExecutionAccelerators")
    accelerator = accelerators.nested_type.add(name="Accelerator")
    _field(accelerator, "name", 1, F.TYPE_STRING)
    entry = accelerator.nested_type.add(name="ParametersEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, F.TYPE_STRING)
    _field(entry, "value", 2, F.TYPE_STRING)
    _field(accelerator, "parameters", 2, F.TYPE_MESSAGE, R,
           ".inference.ModelOptimizationPolicy.ExecutionAccelerators.Accelerator.ParametersEntry")
    accelerator_type = ".inference.ModelOptimizationPolicy.ExecutionAccelerators.Accelerator"
    _field(accelerators, "gpu_execution_accelerator", 1, F.TYPE_MESSAGE, R, accelerator_type)
    _field(accelerators, "cpu_execution_accelerator", 2, F.TYPE_MESSAGE, R, accelerator_type)
    _field(policy, "execution_accelerators", 4, F.TYPE_MESSAGE,
           type_name=".inference.ModelOptimizationPolicy.ExecutionAccelerators")

    config = file.message_type.add(name="ModelConfig")
    _field(config, "name", 1, F.TYPE_STRING)
    _field(config, "platform", 2, F.TYPE_STRING)
    _field(config, "backend", 17, F.TYPE_STRING)
    _field(config, "max_batch_size", 4, F.TYPE_INT32)
    _field(config, "input", 5, F.TYPE_MESSAGE, R, ".inference.ModelInput")
    _field(config, "output", 6, F.TYPE_MESSAGE, R, ".inference.ModelOutput")
    _field(config, "instance_group", 7, F.TYPE_MESSAGE, R, ".inference.ModelInstanceGroup")
    _field(config, "dynamic_batching", 11, F.TYPE_MESSAGE, type_name=".inference.ModelDynamicBatching")
    _field(config, "optimization", 12, F.TYPE_MESSAGE, type_name=".inference.ModelOptimizationPolicy")

    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


ModelConfig = model_config_schema()


def parse(text: str):
    return text_format.Parse(text, ModelConfig())


def test_repository_layout_and_configs_parse_against_the_schema(tmp_path):
    folders = export_triton(["mosaic", "starry"], tmp_path, TritonOptions(max_batch_size=16, preferred_batch_sizes=(8, 16),
                                                                         instances=2, tensorrt=True))
    assert [f.name for f in folders] == ["mosaic", "starry"]
    for folder in folders:
        model = folder / "1" / "model.onnx"
        assert model.read_bytes() == get_style(folder.name).onnx.read_bytes()
        config = parse((folder / "config.pbtxt").read_text())
        assert config.name == folder.name and config.backend == "onnxruntime" and config.max_batch_size == 16
        graph = onnx.load(str(model)).graph
        assert [i.name for i in config.input] == [i.name for i in graph.input]
        assert [o.name for o in config.output] == [o.name for o in graph.output]
        assert list(config.input[0].dims) == [3, -1, -1] and list(config.output[0].dims) == [3, -1, -1]
        assert config.input[0].data_type == DATA_TYPES.index("TYPE_FP32")
        assert list(config.dynamic_batching.preferred_batch_size) == [8, 16]
        assert config.dynamic_batching.max_queue_delay_microseconds == 2000
        assert config.instance_group[0].count == 2 and config.instance_group[0].kind == 1  # KIND_GPU
        trt = config.optimization.execution_accelerators.gpu_execution_accelerator[0]
        assert trt.name == "tensorrt" and trt.parameters["precision_mode"] == "FP16"


def test_one_model_may_be_named_without_a_list(tmp_path):
    assert [f.name for f in export_triton("mosaic", tmp_path)] == ["mosaic"]
    assert [f.name for f in export_triton(get_style("starry").onnx, tmp_path / "b")] == ["starry"]


def fixed_batch_model(batch: int | str = 1) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("pixels", TensorProto.UINT8, [batch, 4, 4])
    y = helper.make_tensor_value_info("doubled", TensorProto.INT64, [batch, 4, 4])
    cast = helper.make_node("Cast", ["pixels"], ["wide"], to=TensorProto.INT64)
    add = helper.make_node("Add", ["wide", "wide"], ["doubled"])
    return helper.make_model(helper.make_graph([cast, add], "g", [x], [y]))


def test_types_and_unbatched_models():
    dynamic = parse(format_pbtxt(triton_config(fixed_batch_model("N"), "doubler", TritonOptions(kind="cpu"))))
    assert dynamic.input[0].data_type == DATA_TYPES.index("TYPE_UINT8")
    assert dynamic.output[0].data_type == DATA_TYPES.index("TYPE_INT64") and list(dynamic.output[0].dims) == [4, 4]
    assert dynamic.instance_group[0].kind == 2 and not dynamic.HasField("optimization")
    with pytest.raises(ValueError, match="no dynamic batch axis"):
        triton_config(fixed_batch_model(1), "fixed")
    plain = parse(format_pbtxt(triton_config(fixed_batch_model(1), "fixed", TritonOptions(max_batch_size=0))))
    assert plain.max_batch_size == 0 and list(plain.input[0].dims) == [1, 4, 4] and not plain.HasField("dynamic_batching")


def test_strings_are_escaped():
    text = format_pbtxt({"name": 'a"b\\c', "backend": "onnxruntime"})
    assert parse(text).name == 'a"b\\c'


def test_errors(tmp_path):
    export_triton(["mosaic"], tmp_path)
    with pytest.raises(ValueError, match="exists"):
        export_triton(["mosaic"], tmp_path)
    export_triton(["mosaic"], tmp_path, overwrite=True)
    with pytest.raises(ValueError, match="distinct"):
        export_triton(["mosaic", str(get_style("mosaic").onnx)], tmp_path / "other")
    with pytest.raises(ValueError, match="at least one"):
        export_triton([], tmp_path)
    with pytest.raises(FileNotFoundError):
        export_triton([str(tmp_path / "missing.onnx")], tmp_path)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(np.random.default_rng(0).bytes(64))
    with pytest.raises(ValueError, match="not a valid ONNX"):
        export_triton([str(junk)], tmp_path / "r")
    empty = tmp_path / "empty.onnx"
    empty.touch()
    with pytest.raises(ValueError, match="no inputs or no outputs"):
        export_triton([str(empty)], tmp_path / "r")
    assert not (tmp_path / "r" / "empty").exists()
    with pytest.raises(ValueError, match="name"):
        triton_config(fixed_batch_model("N"), "../evil")
    for kwargs, name in (({"kind": "tpu"}, "kind"), ({"tensorrt": True, "kind": "cpu"}, "tensorrt"),
                         ({"preferred_batch_sizes": (32,)}, "preferred_batch_sizes"), ({"instances": 0}, "instances")):
        with pytest.raises(ValueError, match=name):
            TritonOptions(**kwargs)
