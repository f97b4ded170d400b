"""Small assertions shared by the tests."""

import torch


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float) -> None:
    """Relative error in the Frobenius norm, computed in float64."""
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    assert a.shape == e.shape, (a.shape, e.shape)
    err = (a - e).norm() / e.norm().clamp_min(1e-300)
    assert err <= rtol, f"relative error {err:.3g} > {rtol:g}"
