"""The compiled extension itself: build information and the checks at its boundary."""

import numpy as np
import pytest
import torch
from torch.utils.dlpack import to_dlpack

import pyfast
from pyfast import _C


def test_build_info_contract():
    info = pyfast.build_info()
    assert isinstance(info["version"], str) and info["version"] == pyfast.__version__
    assert isinstance(info["cuda_compiled"], bool)
    assert isinstance(info["cuda_archs"], str)
    assert isinstance(info["openmp"], bool)
    if info["cuda_compiled"]:
        archs = info["cuda_archs"].split(",")
        assert "80-real" in archs and "90-real" in archs and "90-virtual" in archs
    assert info["cpu_isa"] in info["compiled_isas"].split(",")


def test_import_pyfast_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, pyfast; pyfast.build_info(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_numpy_arrays_cross_through_dlpack():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    out = np.empty((2, 3, 3))
    _C.gram_forward(x, out, 1.0)
    f = x.reshape(2, 3, 20)
    np.testing.assert_allclose(out, f @ f.transpose(0, 2, 1), rtol=1e-12)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: _C.gram_forward(to_dlpack(torch.randn(2, 3, 4)), to_dlpack(torch.empty(2, 3, 3)), 1.0),
         r"x must be 4-D, got shape \(2, 3, 4\)"),
        (lambda: _C.gram_forward(to_dlpack(torch.ones(1, 2, 3, 3, dtype=torch.int32)), to_dlpack(torch.empty(1, 2, 2)), 1.0),
         "x must be float32 or float64, got int32"),
        (lambda: _C.gram_forward(to_dlpack(torch.randn(1, 2, 3, 3)), to_dlpack(torch.empty(1, 2, 2, dtype=torch.float64)), 1.0),
         r"out must have the dtype of x \(float32\), got float64"),
        (lambda: _C.gram_forward(to_dlpack(torch.randn(1, 2, 3, 3)), to_dlpack(torch.empty(1, 3, 3)), 1.0),
         r"out must have shape \(1, 2, 2\), got \(1, 3, 3\)"),
        (lambda: _C.gram_forward(to_dlpack(torch.randn(1, 2, 3, 3).transpose(2, 3)), to_dlpack(torch.empty(1, 2, 2)), 1.0),
         "x must be contiguous"),
        (lambda: _C.gram_forward(to_dlpack(torch.randn(1, 0, 3, 3)), to_dlpack(torch.empty(1, 0, 0)), 1.0),
         "x must not be empty"),
        (lambda: _C.gram_backward(to_dlpack(torch.randn(1, 2, 3, 3)), to_dlpack(torch.randn(1, 2, 2)), to_dlpack(torch.empty(1, 2, 3, 4)), 1.0),
         r"grad_x must have shape \(1, 2, 3, 3\)"),
        (lambda: _C.tv_forward(to_dlpack(torch.randn(2, 1, 3, 3)), to_dlpack(torch.empty(3)), 2.0, 0.0),
         r"out must have shape \(2,\), got \(3,\)"),
        (lambda: _C.tv_forward(to_dlpack(torch.randn(2, 1, 3, 3)), to_dlpack(torch.empty(2)), -1.0, 0.0),
         "beta must be a finite number >= 0"),
        (lambda: _C.tv_backward(to_dlpack(torch.randn(2, 1, 3, 3)), to_dlpack(torch.randn(1)), to_dlpack(torch.empty(2, 1, 3, 3)), 2.0, 0.0),
         r"grad_out must have shape \(2,\)"),
        (lambda: _C.tv_forward([1, 2], to_dlpack(torch.empty(2)), 2.0, 0.0),
         "x must be a DLPack capsule"),
    ],
)
def test_extension_rejects_bad_tensors_with_named_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_consumed_capsule_is_rejected():
    x = torch.randn(1, 2, 3, 3)
    cap = to_dlpack(x)
    torch.utils.dlpack.from_dlpack(cap)  # consumes the capsule
    with pytest.raises(ValueError, match="not an unconsumed DLPack capsule"):
        _C.gram_forward(cap, to_dlpack(torch.empty(1, 2, 2)), 1.0)


def test_thread_count_is_settable():
    n = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        assert _C.get_num_threads() == 1
        x = torch.randn(2, 8, 16, 16, dtype=torch.float64)
        torch.testing.assert_close(pyfast.ops.gram_matrix(x), pyfast.ops.reference.gram_matrix(x))
    finally:
        _C.set_num_threads(n)


@pytest.mark.parametrize("isa", ["generic", "avx2"])
def test_every_compiled_isa_is_correct(isa):
    """The per-ISA builds run in a subprocess with PYFAST_CPU_ISA capping the choice."""
    import os
    import subprocess
    import sys

    if isa not in pyfast.build_info()["compiled_isas"].split(","):
        pytest.skip(f"{isa} not compiled in")
    code = (
        "import torch, pyfast\n"
        "from pyfast.ops import gram_matrix, total_variation, reference as r\n"
        f"assert pyfast.build_info()['cpu_isa'] == '{isa}', pyfast.build_info()['cpu_isa']\n"
        "x = torch.randn(2, 5, 4, 9, dtype=torch.float64, requires_grad=True)\n"
        "assert torch.autograd.gradcheck(lambda t: gram_matrix(t), (x,))\n"
        "for beta in (2.0, 1.0, 1.5):\n"
        "    assert torch.autograd.gradcheck(lambda t: total_variation(t, beta, 'none'), (x,))\n"
        "    for shape in [(2, 5, 7, 9), (1, 37, 19, 23)]:\n"
        "        y = torch.randn(shape)\n"
        "        torch.testing.assert_close(gram_matrix(y), r.gram_matrix(y.double()).float())\n"
        "        torch.testing.assert_close(total_variation(y, beta), r.total_variation(y.double(), beta).float())\n"
        "print('ok')\n"
    )
    env = dict(os.environ, PYFAST_CPU_ISA=isa)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
