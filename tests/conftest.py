import pytest
import torch

import pyfast

CUDA_READY = torch.cuda.is_available() and pyfast.build_info()["cuda_compiled"]


def pytest_collection_modifyitems(config, items):
    if CUDA_READY:
        return
    reason = (
        "no CUDA device"
        if not torch.cuda.is_available()
        else "pyfast._C was built without CUDA kernels"
    )
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
