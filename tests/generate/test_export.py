import numpy as np
import onnx
import pytest
import torch

from pyfast.generate.dcgan import Generator
from pyfast.generate.export import (export_dcgan_generator, export_pixelcnn, export_vae_decoder, interpolate_onnx,
                                    sample_dcgan_onnx, sample_vae_onnx, slerp)
from pyfast.generate.vae import VAE
from pyfast.runtime import Engine


@pytest.fixture(scope="module")
def dcgan_export(tmp_path_factory):
    generator = Generator(latent_dim=6, width=4)
    generator.train()
    generator(torch.randn(8, 6))  # non-trivial batch-norm running statistics
    report = export_dcgan_generator(generator, tmp_path_factory.mktemp("dcgan") / "g.onnx")
    return generator, report


@pytest.fixture(scope="module")
def vae_export(tmp_path_factory):
    vae = VAE(latent_dim=5, width=4, hidden=16)
    return vae, export_vae_decoder(vae, tmp_path_factory.mktemp("vae") / "d.onnx")


def test_dcgan_generator_parity_with_dynamic_batch(dcgan_export):
    generator, report = dcgan_export
    assert sorted(report.max_abs_error) == [1, 3] and max(report.max_abs_error.values()) < 1e-4
    assert generator.training  # the caller's model is untouched
    engine = Engine(report.path, providers="cpu")
    z = np.random.default_rng(0).standard_normal((5, 6), dtype=np.float32)
    with torch.no_grad():
        expected = (generator.eval()(torch.from_numpy(z)) + 1) / 2
    generator.train()
    got = engine.run(z)
    assert got.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)
    assert engine.metadata["pyfast.task"] == "dcgan-generator" and engine.metadata["pyfast.latent_dim"] == "6"
    assert onnx.load(str(report.path)).graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_vae_decoder_parity(vae_export):
    vae, report = vae_export
    assert sorted(report.max_abs_error) == [1, 3] and max(report.max_abs_error.values()) < 1e-4
    z = np.random.default_rng(1).standard_normal((3, 5), dtype=np.float32)
    with torch.no_grad():
        expected = vae.decode(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(Engine(report.path, providers="cpu").run(z), expected, atol=1e-5)


def test_pixelcnn_forward_parity(tmp_path):
    from pyfast.generate.pixelcnn import PixelCNN

    for levels in (2, 256):
        model = PixelCNN(channels=8, n_blocks=1, levels=levels, image_size=12)
        report = export_pixelcnn(model, tmp_path / f"p{levels}.onnx", image_shape=(1, 12, 12))
        assert sorted(report.max_abs_error) == [1, 3] and max(report.max_abs_error.values()) < 1e-4
        assert report.metadata["pyfast.levels"] == str(levels)


def test_sampling_through_onnx_runtime(dcgan_export, vae_export):
    path = dcgan_export[1].path
    images = sample_dcgan_onnx(path, n=5, seed=3)
    assert images.shape == (5, 1, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, sample_dcgan_onnx(path, n=5, seed=3, batch_size=2))
    assert not np.array_equal(images, sample_dcgan_onnx(path, n=5, seed=4))
    assert sample_vae_onnx(vae_export[1].path, n=2).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="not a dcgan-generator model"):
        sample_dcgan_onnx(vae_export[1].path, n=2)
    with pytest.raises(ValueError, match="n must be"):
        sample_vae_onnx(vae_export[1].path, n=0)


def test_interpolation_grid_rows_start_and_end_at_random_latents(dcgan_export):
    generator, report = dcgan_export
    frames = interpolate_onnx(report.path, rows=2, steps=4, seed=7)
    assert frames.shape == (8, 1, 28, 28)
    ends = np.random.default_rng(7).standard_normal((2, 2, 6), dtype=np.float32)
    with torch.no_grad():
        first = ((generator.eval()(torch.from_numpy(ends[0])) + 1) / 2).clamp(0, 1).numpy()
        last = ((generator(torch.from_numpy(ends[1])) + 1) / 2).clamp(0, 1).numpy()
    generator.train()
    assert np.abs(frames[[0, 4]] / 255.0 - first).max() < 1 / 255 + 1e-4
    assert np.abs(frames[[3, 7]] / 255.0 - last).max() < 1 / 255 + 1e-4
    with pytest.raises(ValueError, match="steps"):
        interpolate_onnx(report.path, steps=1)


def test_slerp_follows_the_great_circle():
    a = np.array([[1.0, 0.0], [2.0, 0.0]], np.float32)
    b = np.array([[0.0, 1.0], [4.0, 0.0]], np.float32)  # second pair parallel: linear fallback
    path = slerp(a, b, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[:, 0], a, atol=1e-6)
    np.testing.assert_allclose(path[:, -1], b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(path[0], axis=1), 1.0, atol=1e-6)  # stays on the unit circle
    np.testing.assert_allclose(path[1, :, 0], [2.0, 2.5, 3.0, 3.5, 4.0], atol=1e-6)


def test_bad_opset(tmp_path):
    with pytest.raises(ValueError, match="opset"):
        export_vae_decoder(VAE(latent_dim=2, width=2, hidden=4), tmp_path / "x.onnx", opset=11)
