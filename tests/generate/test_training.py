import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from pyfast.data import read_image
from pyfast.generate.training import (GenTrainConfig, evaluate_pixelcnn, evaluate_vae, image_grid, load_model, sample_grid_path,
                                      save_model, train_dcgan, train_pixelcnn, train_vae)
from pyfast.generate.vae import VAE

TINY = dict(train_size=32, batch_size=16, grid_size=4, device="cpu")


def _weights(model):
    return torch.cat([t.flatten().float() for t in model.state_dict().values()])


def test_image_grid_places_tiles_row_major():
    images = np.stack([np.full((1, 3, 2), i * 10, np.uint8) for i in range(5)])
    grid = image_grid(images, nrow=3, padding=1)
    assert grid.shape == (2 * 4 + 1, 3 * 3 + 1, 3) and grid.dtype == np.uint8
    assert (grid[1:4, 1:3] == 0).all() and (grid[1:4, 4:6] == 10).all() and (grid[5:8, 4:6] == 40).all()
    assert (grid[5:8, 7:9] == 0).all()  # the missing sixth tile stays black
    rgb = image_grid(np.zeros((2, 3, 4, 4), np.uint8), nrow=8, padding=0)
    assert rgb.shape == (4, 8, 3)
    with pytest.raises(ValueError, match="images must be uint8"):
        image_grid(np.zeros((2, 2, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="nrow"):
        image_grid(np.zeros((2, 1, 4, 4), np.uint8), nrow=0)


def test_train_vae_writes_model_grids_and_checkpoint(tmp_path):
    path = train_vae(GenTrainConfig(out_dir=str(tmp_path), epochs=2, model={"width": 4, "hidden": 16}, **TINY),
                     progress=False)
    assert path == tmp_path / "vae.pt"
    assert (tmp_path / "checkpoint.pt").is_file()
    grid = read_image(sample_grid_path(tmp_path, 2))
    assert grid.size == (2 * 30 + 2, 2 * 30 + 2)  # four 28x28 samples, 2 per row, 2 px gaps
    assert sample_grid_path(tmp_path, 1).is_file()
    model, record = load_model(path, "vae")
    assert isinstance(model, VAE) and not model.training
    assert record["data"] == {"source": "digits", "variant": "8bit", "image_size": 28, "channels": 1,
                              "train_size": 32, "seed": 0}
    from_checkpoint, _ = load_model(tmp_path / "checkpoint.pt", "vae")
    torch.testing.assert_close(_weights(model), _weights(from_checkpoint))
    with pytest.raises(ValueError, match="not a dcgan model"):
        load_model(path, "dcgan")


def test_resume_continues_exactly(tmp_path):
    config = dict(model={"latent_dim": 8, "width": 4}, **TINY)
    straight = train_dcgan(GenTrainConfig(out_dir=str(tmp_path / "a"), steps=5, **config), progress=False)
    train_dcgan(GenTrainConfig(out_dir=str(tmp_path / "b"), steps=3, **config), progress=False)
    resumed = train_dcgan(GenTrainConfig(out_dir=str(tmp_path / "b"), steps=5, resume=str(tmp_path / "b" / "checkpoint.pt"),
                                         **config), progress=False)
    a, b = load_model(straight)[0], load_model(resumed)[0]
    assert torch.equal(_weights(a), _weights(b))  # same batches, same noise, same optimizer state
    with pytest.raises(ValueError, match="dcgan checkpoint, not a vae"):
        train_vae(GenTrainConfig(out_dir=str(tmp_path / "c"), resume=str(tmp_path / "b" / "checkpoint.pt"), **TINY),
                  progress=False)
    other_size = {**config, "image_size": 32}
    with pytest.raises(ValueError, match="trained on other data: image_size 28 .checkpoint. vs 32"):
        train_dcgan(GenTrainConfig(out_dir=str(tmp_path / "b"), steps=5, resume=str(tmp_path / "b" / "checkpoint.pt"),
                                   **other_size), progress=False)


def test_trains_on_an_rgb_folder(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        PILImage.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    path = train_dcgan(GenTrainConfig(out_dir=str(tmp_path / "run"), data=str(folder), image_size=32, channels=3,
                                      steps=2, batch_size=4, grid_size=2, model={"latent_dim": 4, "width": 4}),
                       progress=False)
    generator, record = load_model(path, "dcgan")
    assert generator(torch.zeros(1, 4)).shape == (1, 3, 32, 32)
    assert record["data"]["source"] == str(folder) and record["data"]["train_size"] == 6


def test_bad_configuration(tmp_path):
    with pytest.raises(ValueError, match="variant"):
        train_vae(GenTrainConfig(out_dir=str(tmp_path), variant="16bit"), progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        train_vae(GenTrainConfig(out_dir=str(tmp_path), batch_size=0), progress=False)
    with pytest.raises(ValueError, match="lr must be a finite number"):
        train_vae(GenTrainConfig(out_dir=str(tmp_path), lr=float("inf")), progress=False)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        train_vae(GenTrainConfig(out_dir=str(tmp_path), data=str(tmp_path / "missing")), progress=False)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        train_vae(GenTrainConfig(out_dir=str(tmp_path), resume=str(tmp_path / "none.pt")), progress=False)


def test_load_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        load_model(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a pyfast generative model"):
        load_model(tmp_path / "other.pt")


def test_evaluate_vae_keeps_the_mode_and_reports_nats(tmp_path):
    vae = VAE(latent_dim=4, width=4, hidden=16).train()
    images = np.random.default_rng(0).integers(0, 2, (5, 1, 28, 28), dtype=np.uint8)
    result = evaluate_vae(vae, images, "binary", batch_size=2)
    assert vae.training
    assert result["images"] == 5 and result["kl"] >= 0
    assert result["elbo"] == pytest.approx(-(result["reconstruction"] + result["kl"]), rel=1e-6)
    path = save_model(tmp_path / "vae.pt", "vae", vae, {"variant": "binary"})
    assert evaluate_vae(load_model(path)[0], images, "binary") == evaluate_vae(vae.eval(), images, "binary")


def test_non_finite_loss_stops_training(tmp_path, monkeypatch):
    import pyfast.generate.training as training

    real = training.elbo_terms

    def poisoned(model, x, generator=None):
        terms = real(model, x, generator)
        terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(training, "elbo_terms", poisoned)
    with pytest.raises(FloatingPointError, match="vae, step 1: -ELBO is nan"):
        train_vae(GenTrainConfig(out_dir=str(tmp_path), steps=2, model={"width": 4, "hidden": 16}, **TINY), progress=False)
    assert not (tmp_path / "vae.pt").exists()


@pytest.mark.parametrize("variant, levels", [("binary", 2), ("8bit", 256)])
def test_train_and_evaluate_a_pixelcnn(tmp_path, variant, levels):
    path = train_pixelcnn(GenTrainConfig(out_dir=str(tmp_path), variant=variant, image_size=12, steps=2,
                                         model={"width": 4, "n_blocks": 1}, **TINY), progress=False)
    model, record = load_model(path, "pixelcnn")
    assert (model.channels, model.n_blocks, model.levels) == (4, 1, levels)
    assert record["data"]["variant"] == variant
    assert sample_grid_path(tmp_path, 1).is_file()
    images = np.random.default_rng(0).integers(0, levels, (3, 1, 12, 12), dtype=np.uint8)
    result = evaluate_pixelcnn(model, images, batch_size=2)
    assert result["bits_per_dim"] == pytest.approx(result["nll_nats"] / (144 * np.log(2)))
    assert result["nll_nats"] > 0
    with pytest.raises(ValueError, match="single-channel"):
        train_pixelcnn(GenTrainConfig(out_dir=str(tmp_path), channels=3), progress=False)
