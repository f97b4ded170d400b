import subprocess
import sys

import numpy as np
import pytest
import torch

from pyfast.models import TransformerNet
from pyfast.onnx import export_style
from pyfast.runtime import Engine, available_providers, resolve_providers


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("engine") / "m.onnx"
    return export_style(TransformerNet(width=0.25), path, verify=False).path


def test_runs_batches_and_reports_provider(model_path):
    engine = Engine(model_path, providers="cpu", threads=1)
    assert engine.provider == "CPUExecutionProvider"
    assert engine.metadata["pyfast.input_range"] == "0-255"
    out = engine.run(np.random.rand(3, 3, 20, 30).astype(np.float32) * 255)
    assert out.shape == (3, 3, 20, 30) and out.dtype == np.float32
    engine.warmup((1, 3, 16, 16))
    assert "CPUExecutionProvider" in repr(engine)


def test_auto_lists_what_is_available(model_path):
    assert resolve_providers("auto")[-1] == "CPUExecutionProvider" or "CPUExecutionProvider" in available_providers()
    assert Engine(model_path).provider in available_providers()


def test_input_checks_name_the_problem(model_path):
    engine = Engine(model_path, providers="cpu")
    with pytest.raises(TypeError, match="input 'input' must be float32, got float64"):
        engine.run(np.zeros((1, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"must be 4-D .* got shape \(3, 8, 8\)"):
        engine.run(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="needs size 3 on axis 1"):
        engine.run(np.zeros((1, 4, 8, 8), np.float32))
    with pytest.raises(TypeError, match="must be a numpy array, got list"):
        engine.run([[1.0]])
    with pytest.raises(ValueError, match="takes 1 input"):
        engine.run()
    for threads in (0, 99_999_999_999):
        with pytest.raises(ValueError, match="threads must be in 1..1024"):
            Engine(model_path, providers="cpu", threads=threads)
    for threads in (2.5, "2", True):
        with pytest.raises(TypeError, match="threads must be an integer"):
            Engine(model_path, providers="cpu", threads=threads)


def test_unavailable_provider_is_an_error_not_a_fallback(model_path):
    if "TensorrtExecutionProvider" in available_providers():
        pytest.skip("TensorRT is available here")
    with pytest.raises(ValueError, match="'tensorrt' is not available in this onnxruntime build"):
        Engine(model_path, providers="tensorrt")
    with pytest.raises(ValueError, match="unknown execution provider 'NoSuchExecutionProvider'"):
        Engine(model_path, providers=["NoSuchExecutionProvider"])
    with pytest.raises(ValueError, match="unknown execution provider 'bogus'; use auto, cpu, cuda"):
        Engine(model_path, providers="bogus")


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        Engine(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf")
    with pytest.raises(ValueError, match="is not a valid ONNX model"):
        Engine(junk)
    (tmp_path / "empty.onnx").touch()
    with pytest.raises(ValueError, match="empty.onnx is not a valid ONNX model"):
        Engine(tmp_path / "empty.onnx")


def test_every_declared_dtype_is_checked_and_input_numbers_are_named(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Not", ["flags"], ["output"])], "g",
                              [helper.make_tensor_value_info("flags", TensorProto.BOOL, ["n"])],
                              [helper.make_tensor_value_info("output", TensorProto.BOOL, ["n"])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "not.onnx"))
    engine = Engine(tmp_path / "not.onnx")
    assert engine.run(np.array([True, False])).tolist() == [False, True]
    with pytest.raises(TypeError, match="input 'flags' must be bool, got float32"):
        engine.run(np.zeros(2, np.float32))
    for index in (1, -1, True):
        with pytest.raises(ValueError, match=rf"not.onnx has 1 input\(s\); there is no input {index!r}"):
            engine.check_input(np.array([True]), index)
    constant = helper.make_graph([helper.make_node("Constant", [], ["output"], value_float=1.0)], "g", [],
                                 [helper.make_tensor_value_info("output", TensorProto.FLOAT, [])])
    onnx.save(helper.make_model(constant, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "one.onnx"))
    with pytest.raises(ValueError, match="one.onnx declares no inputs"):
        Engine(tmp_path / "one.onnx").input_name


def test_wrong_rank_model_is_caught_at_the_input_check(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3])],
    )
    path = tmp_path / "rank2.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ValueError, match=r"must be 2-D"):
        Engine(path).run(np.zeros((1, 3, 8, 8), np.float32))


def fixed_size_model(path, side=4):
    """A 4-D float model whose Reshape only fits (1, 3, side, side): it fails at run time on other sizes."""
    import onnx
    from onnx import TensorProto, helper

    shape = helper.make_tensor("shape", TensorProto.INT64, [4], [1, 3, side, side])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["input", "shape"], ["output"])], "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, side, side])],
        initializer=[shape],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_a_model_failing_at_run_time_raises_runtime_error_naming_it(tmp_path):
    engine = Engine(fixed_size_model(tmp_path / "fixed.onnx"))
    assert engine.run(np.zeros((1, 3, 4, 4), np.float32)).shape == (1, 3, 4, 4)
    with pytest.raises(RuntimeError, match=r"fixed.onnx: ONNX Runtime failed on input shape\(s\) \[\(1, 3, 6, 6\)\]"):
        engine.run(np.zeros((1, 3, 6, 6), np.float32))


def test_importing_the_runtime_does_not_import_torch():
    code = "import sys, pyfast.runtime, pyfast.runtime.stylize, pyfast.zoo; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_engine_is_shared_across_threads(model_path):
    from concurrent.futures import ThreadPoolExecutor

    engine = Engine(model_path, providers="cpu")
    x = np.random.default_rng(0).random((1, 3, 16, 16), dtype=np.float32) * 255
    expected = engine.run(x)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: engine.run(x), range(8)))
    for r in results:
        np.testing.assert_array_equal(r, expected)
