import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pyfast.generate.pixelcnn import PixelCNN, bits_per_dim, draw_levels, pixelcnn_loss
from pyfast.ops import reference


def small_model(levels, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    model = PixelCNN(channels=12, n_blocks=2, levels=levels, image_size=8).to(dtype)
    with torch.no_grad():  # larger weights than the default init: sharper, more varied distributions
        for p in model.parameters():
            p.mul_(2.0)
    return model


@pytest.mark.parametrize("levels", [2, 256])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cached_sampler_equals_naive(levels, dtype):
    model = small_model(levels, dtype)
    cached = model.sample(4, seed=11, method="cached", progress=False)
    naive = model.sample(4, seed=11, method="naive", progress=False)
    assert cached.shape == (4, 1, 8, 8) and cached.dtype == torch.uint8
    assert torch.equal(cached, naive)
    assert int(cached.max()) <= levels - 1
    assert len(torch.unique(cached)) > 1  # not a constant image


def test_seed_decides_the_samples_and_size_at_sample_time():
    model = small_model(2)
    a = model.sample(3, seed=5, progress=False, image_size=(5, 9))
    assert a.shape == (3, 1, 5, 9)
    assert torch.equal(a, model.sample(3, seed=5, progress=False, image_size=(5, 9)))
    assert not torch.equal(a, model.sample(3, seed=6, progress=False, image_size=(5, 9)))


def test_draw_levels_inverts_the_cdf():
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]] * 4, dtype=torch.float64))
    u = torch.tensor([0.1, 0.25, 0.69, 0.71], dtype=torch.float64)
    assert draw_levels(logits, u, 3).tolist() == [0, 1, 1, 2]
    binary = torch.tensor([[0.0], [0.0]], dtype=torch.float64)
    assert draw_levels(binary, torch.tensor([0.49, 0.51], dtype=torch.float64), 2).tolist() == [1, 0]


@pytest.mark.parametrize("levels", [2, 256])
def test_model_is_causal(levels):
    model = small_model(levels)
    x = torch.randint(0, levels, (1, 1, 6, 6)).double().requires_grad_()
    out = model(x)
    assert out.shape == (1, 1 if levels == 2 else levels, 6, 6)
    for p in range(36):
        i, j = divmod(p, 6)
        (grad,) = torch.autograd.grad(out[:, :, i, j].sum(), x, retain_graph=True)
        assert torch.all(grad.flatten()[p:] == 0), f"logits at {(i, j)} see the pixel itself or later ones"
    assert grad.abs().sum() > 0


@pytest.mark.parametrize("levels", [2, 256])
def test_loss_is_nats_per_image(levels):
    model = small_model(levels)
    images = torch.randint(0, levels, (3, 1, 8, 8), dtype=torch.uint8)
    logits = model(images.double())
    if levels == 2:
        expected = F.binary_cross_entropy_with_logits(logits, images.double(), reduction="sum") / 3
    else:
        expected = F.cross_entropy(logits, images[:, 0].long(), reduction="sum") / 3
    loss = pixelcnn_loss(model, (images, torch.zeros(3)))
    torch.testing.assert_close(loss, expected)
    assert bits_per_dim(loss.item(), 8) == pytest.approx(loss.item() / (64 * math.log(2)))


@pytest.mark.slow
def test_training_reduces_the_loss():
    torch.manual_seed(0)
    model = PixelCNN(channels=16, n_blocks=1, levels=2, image_size=6)
    stripes = (torch.arange(6) % 2).expand(6, 6)
    images = torch.stack([stripes, stripes.T, 1 - stripes, 1 - stripes.T]).unsqueeze(1).to(torch.uint8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = pixelcnn_loss(model, images).item()
    for _ in range(25):
        loss = pixelcnn_loss(model, images)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert pixelcnn_loss(model, images).item() < 0.5 * first


def test_onnx_export_matches_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    import onnx

    model = small_model(256, torch.float32).eval()
    x = torch.randint(0, 256, (2, 1, 8, 8)).float()
    path = tmp_path / "pixelcnn.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "Conv" in ops
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = torch.randint(0, 256, (5, 1, 8, 8)).float()  # another batch size than exported with
    (got,) = session.run(None, {"image": batch.numpy()})
    with torch.no_grad():
        expected = model(batch).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_sampling_program_matches_forward():
    # The layers handed to the compiled sampler are the model's, in order.
    model = small_model(2)
    layers, channels = model.sampling_program()
    assert len(layers) == 1 + 3 * model.n_blocks + 2
    assert channels[0] == 1 and channels[layers[-1][5]] == 1
    assert [layer[2] for layer in layers][:2] == ["A", "B"]


@pytest.mark.parametrize(
    "kwargs, message",
    [({"levels": 1}, "levels"), ({"levels": 300}, "levels"), ({"channels": 0}, "channels"), ({"n_blocks": -1}, "n_blocks"),
     ({"image_size": (3,)}, "image_size")],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PixelCNN(**kwargs)


def test_bad_sampling_and_loss_arguments():
    model = small_model(2)
    with pytest.raises(ValueError, match="method"):
        model.sample(2, method="fast")
    with pytest.raises(ValueError, match="n must be a positive integer"):
        model.sample(0)
    with pytest.raises(ValueError, match="pixel levels 0..1"):
        pixelcnn_loss(model, torch.full((2, 1, 4, 4), 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        pixelcnn_loss(model, torch.zeros(2, 3, 4, 4))


def test_the_model_uses_masked_convolutions_of_the_reference():
    model = small_model(2)
    x = torch.randint(0, 2, (2, 1, 6, 6)).double()
    h = reference.masked_conv2d(x, model.input_conv.weight, model.input_conv.bias, "A")
    torch.testing.assert_close(model.input_conv(x), h)


@pytest.mark.cuda
@pytest.mark.parametrize("levels", [2, 256])
def test_cuda_cached_sampler_equals_naive(levels):
    model = small_model(levels).cuda()
    cached = model.sample(4, seed=3, method="cached", progress=False)
    naive = model.sample(4, seed=3, method="naive", progress=False)
    assert cached.is_cuda and torch.equal(cached, naive)
    assert torch.equal(cached.cpu(), small_model(levels).sample(4, seed=3, progress=False))
