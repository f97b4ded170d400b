import pyfast._C as C
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyfast.ops import OcclusionGrid, occlude, occlusion_heatmap, reference


def naive_heatmap(drops, grid):
    """Loop-level definition: mean drop over the windows whose (clipped) box holds the pixel."""
    h, w = grid.size
    out = torch.zeros(drops.shape[0], h, w, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            covering = [k for k in range(grid.count) if (b := grid.box(k))[0] <= i < b[1] and b[2] <= j < b[3]]
            out[:, i, j] = drops[:, covering].double().mean(dim=1)
    return out


@pytest.mark.parametrize(
    "size, window, stride, rows, cols",
    [((64, 64), 8, 4, 15, 15), ((224, 224), 15, 8, 28, 28), ((10, 7), (3, 7), (3, 2), 4, 1), ((5, 5), 5, 1, 1, 1)],
)
def test_grid_matches_captum_placement(size, window, stride, rows, cols):
    grid = OcclusionGrid.create(size, window, stride)
    assert (grid.rows, grid.cols) == (rows, cols)
    last = grid.box(grid.count - 1)
    assert last[1] == size[0] and last[3] == size[1]  # the last window reaches (or is cut off at) the border


@settings(max_examples=25, deadline=None)
@given(
    c=st.integers(1, 4), h=st.integers(1, 20), w=st.integers(1, 20), data=st.data(),
    dtype=st.sampled_from([torch.float32, torch.float64]), tensor_baseline=st.booleans(),
)
def test_occlude_equals_reference(c, h, w, data, dtype, tensor_baseline):
    wh, ww = data.draw(st.integers(1, h)), data.draw(st.integers(1, w))
    sh = data.draw(st.integers(1, wh if wh < h else h + 2))
    sw = data.draw(st.integers(1, ww if ww < w else w + 2))
    grid = OcclusionGrid.create((h, w), (wh, ww), (sh, sw))
    first = data.draw(st.integers(0, grid.count - 1))
    count = data.draw(st.integers(0, grid.count - first))
    x = torch.randn(c, h, w, dtype=dtype)
    baseline = torch.randn(c, h, w, dtype=dtype) if tensor_baseline else 0.25
    out = occlude(x, grid, baseline, first, count)
    assert out.shape == (count, c, h, w) and out.dtype == dtype
    assert torch.equal(out, reference.occlude(x, grid, baseline, first, count))


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 16), w=st.integers(1, 16), n=st.integers(1, 3), data=st.data(),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_heatmap_equals_definition(h, w, n, data, dtype):
    wh, ww = data.draw(st.integers(1, h)), data.draw(st.integers(1, w))
    grid = OcclusionGrid.create((h, w), (wh, ww), (data.draw(st.integers(1, wh)), data.draw(st.integers(1, ww))))
    drops = torch.randn(n, grid.count, dtype=dtype)
    out = occlusion_heatmap(drops, grid)
    assert out.shape == (n, h, w) and out.dtype == dtype
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(out.double(), naive_heatmap(drops, grid), rtol=tol, atol=tol)
    torch.testing.assert_close(reference.occlusion_heatmap(drops, grid), out, rtol=tol, atol=tol)


def test_occlude_does_not_touch_inputs_and_fills_out():
    x = torch.randn(3, 9, 11)
    baseline = torch.randn(3, 9, 11)
    x0, b0 = x.clone(), baseline.clone()
    grid = OcclusionGrid.create((9, 11), 4, 3)
    out = torch.full((grid.count, 3, 9, 11), float("nan"))
    assert occlude(x, grid, baseline, out=out) is out
    assert torch.equal(x, x0) and torch.equal(baseline, b0)
    assert torch.equal(out, reference.occlude(x, grid, baseline))


def test_non_contiguous_image():
    x = torch.randn(9, 11, 3).permute(2, 0, 1)
    grid = OcclusionGrid.create((9, 11), 3, 2)
    assert torch.equal(occlude(x, grid, -1.0), reference.occlude(x.contiguous(), grid, -1.0))


@pytest.mark.parametrize(
    "size, window, stride, message",
    [
        ((8, 8), 9, 1, r"window \(9, 9\) is larger than the image"),
        ((8, 8), 0, 1, "window must be >= 1"),
        ((8, 8), 3, 0, "stride must be >= 1"),
        ((8, 8), 3, -2, "stride must be >= 1"),
        ((8, 8), 3, 4, "larger than window"),
        ((8, 8), (3, 3, 3), 1, "pair of ints"),
        ((8, 8), 2.5, 1, "pair of ints"),
    ],
)
def test_grid_rejects_bad_arguments(size, window, stride, message):
    with pytest.raises(ValueError, match=message):
        OcclusionGrid.create(size, window, stride)


def test_ops_reject_bad_arguments():
    grid = OcclusionGrid.create((8, 8), 3, 2)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        occlude(torch.randn(1, 3, 8, 8), grid)
    with pytest.raises(ValueError, match="grid is for images of size"):
        occlude(torch.randn(3, 8, 9), grid)
    with pytest.raises(ValueError, match="baseline"):
        occlude(torch.randn(3, 8, 8), grid, torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="outside the grid"):
        occlude(torch.randn(3, 8, 8), grid, first=grid.count - 1, count=2)
    with pytest.raises(ValueError, match="out must be"):
        occlude(torch.randn(3, 8, 8), grid, out=torch.empty(2, 3, 8, 8))
    with pytest.raises(ValueError, match=rf"\(N, {grid.count}\)"):
        occlusion_heatmap(torch.randn(1, grid.count + 1), grid)


def test_kernels_check_their_arguments():
    x, out = torch.randn(3, 8, 8), torch.empty(2, 3, 8, 8)
    args = {"window_h": 3, "window_w": 3, "stride_h": 2, "stride_w": 2, "rows": 4, "cols": 4}
    with pytest.raises(ValueError, match="out must have shape"):
        C.occlusion_fill(x, torch.empty(2, 3, 8, 7), **args)
    with pytest.raises(ValueError, match="larger than the image"):
        C.occlusion_fill(x, out, **(args | {"window_h": 9}))
    with pytest.raises(ValueError, match="runs past the image"):
        C.occlusion_fill(x, out, **(args | {"rows": 5}))
    with pytest.raises(ValueError, match="outside the grid"):
        C.occlusion_fill(x, out, first=15, **args)
    with pytest.raises(ValueError, match="dtype"):
        C.occlusion_fill(x, out.double(), **args)
    with pytest.raises(ValueError, match="drops"):
        C.occlusion_heatmap(torch.randn(1, 15), torch.empty(1, 8, 8), **args)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_kernels_equal_cpu(dtype):
    x = torch.randn(3, 37, 29, dtype=dtype)
    baseline = torch.randn(3, 37, 29, dtype=dtype)
    grid = OcclusionGrid.create((37, 29), (7, 5), (4, 3))
    for b in (0.5, baseline):
        expected = occlude(x, grid, b, 3, 40)
        got = occlude(x.cuda(), grid, b.cuda() if isinstance(b, torch.Tensor) else b, 3, 40)
        assert torch.equal(got.cpu(), expected)
    drops = torch.randn(2, grid.count, dtype=dtype)
    torch.testing.assert_close(occlusion_heatmap(drops.cuda(), grid).cpu(), occlusion_heatmap(drops, grid))
