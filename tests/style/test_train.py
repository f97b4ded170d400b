import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from pyfast.data import write_image
from pyfast.style import load_checkpoint
from pyfast.style.losses import LossWeights
from pyfast.style.train import TrainConfig, train_style

pytestmark = pytest.mark.filterwarnings("ignore:no VGG-16 weights given")


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    content = tmp_path / "content"
    for i in range(4):
        # smooth gradients with a square: something a network can learn to restyle
        y, x = np.mgrid[0:48, 0:48]
        img = np.stack([x * 5, y * 5, np.full_like(x, 60 * i)], -1).astype(np.uint8)
        img[10:30, 12:28] = rng.integers(0, 255, 3)
        write_image(content / f"c{i}.png", img)
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::8] = (250, 40, 20)
    stripes[::8, :] = (20, 40, 250)
    write_image(tmp_path / "style.png", stripes)
    return tmp_path


def config(images, **kw):
    base = dict(style=str(images / "style.png"), content_dir=str(images / "content"), out_dir=str(images / "run"),
                image_size=32, batch_size=2, steps=12, lr=5e-3, width=0.25, loss_width=0.125,
                weights=LossWeights(1.0, 5.0, 0.0, normalized=True), preview_every=6, checkpoint_every=6, seed=0)
    base.update(kw)
    return TrainConfig(**base)




def test_training_reduces_the_loss_and_writes_outputs(images):
    from pyfast.models import TransformerNet
    from pyfast.style.losses import PerceptualLoss
    from pyfast.style.train import build_loss_network, load_style_image
    from pyfast.style.data import ContentImages

    cfg = config(images, steps=40)
    batch = torch.stack([ContentImages(cfg.content_dir, cfg.image_size)[i] for i in range(4)])
    crit = PerceptualLoss(build_loss_network(None, cfg.loss_width), load_style_image(cfg.style, None), cfg.weights)
    torch.manual_seed(cfg.seed)
    with torch.no_grad():
        before = crit(TransformerNet(width=cfg.width)(batch), batch)["total"].item()
    path = train_style(cfg, progress=False)
    with torch.no_grad():
        after = crit(load_checkpoint(path)(batch), batch)["total"].item()
    assert after < 0.7 * before, (before, after)
    run = Path(cfg.out_dir)
    assert (run / "style.pth").is_file() and (run / "checkpoint.pt").is_file()
    assert sorted(p.name for p in run.glob("preview_*.png"))[:2] == ["preview_000006.png", "preview_000012.png"]


def test_resume_continues_from_the_checkpoint(images):
    train_style(config(images, steps=6), progress=False)
    ckpt = torch.load(images / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 6
    train_style(config(images, steps=10, resume=str(images / "run" / "checkpoint.pt")), progress=False)
    assert torch.load(images / "run" / "checkpoint.pt", weights_only=True)["step"] == 10


def test_resume_problems_are_named(images):
    first = train_style(config(images, steps=4), progress=False)
    checkpoint = str(images / "run" / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"trained with width 0.25; resume it with --width 0.25"):
        train_style(config(images, steps=6, width=0.5, resume=checkpoint), progress=False)
    with pytest.warns(UserWarning, match="already at step 4 of 2: nothing to train"):
        assert train_style(config(images, steps=2, resume=checkpoint), progress=False) == first
    other = torch.load(checkpoint, weights_only=True)
    other["model"] = {"not_a_layer.weight": torch.zeros(1)}
    torch.save(other, images / "other.pt")
    with pytest.raises(ValueError, match=r"does not fit this model \(missing keys conv1.conv2d.weight, conv1.conv2d.bias, in1.weight ... \(62 in all\)\)"):
        train_style(config(images, resume=str(images / "other.pt")), progress=False)
    with pytest.warns(UserWarning, match="replacing the checkpoint in"):
        train_style(config(images, steps=1), progress=False)


def test_distillation_into_a_narrower_student(images):
    teacher = train_style(config(images, steps=4, name="teacher", width=0.5), progress=False)
    student = train_style(config(images, steps=4, name="student", width=0.25, teacher=str(teacher),
                                 out_dir=str(images / "student"),
                                 weights=LossWeights(0.0, 0.0, 0.0)), progress=False)
    assert load_checkpoint(student).width == 0.25


def test_bad_inputs(images, tmp_path):
    with pytest.raises(FileNotFoundError):
        train_style(config(images, content_dir=str(tmp_path / "nope")), progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        train_style(config(images, content_dir=str(tmp_path / "empty")), progress=False)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="not a readable image"):
        train_style(config(images, style=str(tmp_path / "bad.png")), progress=False)
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got inf"):
        train_style(config(images, lr=float("inf")), progress=False)
    (tmp_path / "empty.pth").touch()
    with pytest.raises(ValueError, match="is empty, not a PyTorch checkpoint"):
        train_style(config(images, resume=str(tmp_path / "empty.pth")), progress=False)


@pytest.mark.parametrize("field, value, message", [
    ("steps", 0, "steps must be a positive integer, got 0"),
    ("epochs", -2, "epochs must be a positive integer, got -2"),  # with steps=None below
    ("image_size", 32.5, "image_size must be an integer >= 16, got 32.5"),
    ("batch_size", 2.5, "batch_size must be a positive integer, got 2.5"),
    ("style_size", 3, "style_size must be an integer >= 16, got 3"),
    ("lr", "1e-3", "lr must be a number > 0, got '1e-3'"),
    ("loss_width", 0, "loss_width must be a finite number > 0, got 0"),
    ("distill_weight", float("nan"), "distill_weight must be a finite number >= 0, got nan"),
    ("checkpoint_every", -5, "checkpoint_every must be an integer >= 0, got -5"),
    ("preview_every", -1, "preview_every must be an integer >= 0, got -1"),
    ("style_warmup", -3, "style_warmup must be an integer >= 0, got -3"),
    ("workers", -1, "workers must be an integer >= 0, got -1"),
    ("seed", 2**40, "seed must be in 0..4294967295, got 1099511627776"),
    ("weights", LossWeights(float("nan"), 1.0, 0.0), "weights.content must be a finite number >= 0, got nan"),
    ("device", "bogus", "device 'bogus' is not a device name"),
    ("name", "../x", "must be a plain file name"),
])
def test_the_python_api_checks_what_the_cli_options_check(images, field, value, message):
    """A bad field is named before any work: no output folder is made, nothing is trained."""
    out = images / "unused"
    with pytest.raises(ValueError, match=re.escape(message)):
        train_style(config(images, out_dir=str(out), **{field: value}, **({"steps": None} if field == "epochs" else {})),
                    progress=False)
    assert not out.exists()


def test_a_bad_input_leaves_no_output_folder_behind(images, tmp_path):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "run"
    for bad in ({"style": str(images / "missing.png")}, {"content_dir": str(tmp_path / "empty")},
                {"vgg_weights": str(images / "style.png")}):  # an image is no VGG-16 checkpoint
        with pytest.raises((FileNotFoundError, ValueError)):
            train_style(config(images, out_dir=str(out), **bad), progress=False)
        assert not out.exists(), bad


def test_ddp_with_two_cpu_processes_on_gloo(images):
    """torchrun --nproc-per-node 2: both ranks train, rank 0 writes the model."""
    out = images / "ddp"
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from pyfast.style.losses import LossWeights\n"
        "from pyfast.style.train import TrainConfig, train_style\n"
        f"train_style(TrainConfig(style={str(images / 'style.png')!r}, content_dir={str(images / 'content')!r}, "
        f"out_dir={str(out)!r}, image_size=32, batch_size=1, steps=4, width=0.25, loss_width=0.125, "
        "weights=LossWeights(1.0, 1.0, 0.0, normalized=True), preview_every=0, device='cpu'), progress=False)\n"
        "import os, torch.distributed as dist\n"
        "assert not dist.is_initialized(), 'train_style left its process group alive'\n"
        f"open({str(out)!r} + f'/rank{{os.environ[\"RANK\"]}}-of-{{os.environ[\"WORLD_SIZE\"]}}', 'w').close()\n"
    )
    script = images / "ddp_train.py"
    script.write_text(code)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONFAULTHANDLER="1")  # a rank that aborts prints its Python stacks
    for attempt in (1, 2):
        logs = images / f"ddp-logs-{attempt}"  # each rank's output in its own file, for the messages below
        result = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
             "--log-dir", str(logs), "--redirects", "3", str(script)],
            capture_output=True, text=True, env=env, timeout=300,
        )
        ranks = "\n".join(f"--- {log.relative_to(logs)}:\n{log.read_text(errors='replace')[-2000:]}"
                          for log in sorted(logs.rglob("*.log")) if log.stat().st_size)
        # A rank killed by a native abort (SIGABRT after "terminate called without an active exception" from
        # C++, 2 of about 340 local runs, cause not found) gets one more launch and a warning that keeps its log;
        # any other failure, a Python error in pyfast or the script included, fails at once.
        if result.returncode == 0 or attempt == 2 or "(SIGABRT)" not in result.stderr:
            break
        warnings.warn(f"torchrun lost a rank to SIGABRT; launched again. First launch:\n{ranks}", stacklevel=1)
        shutil.rmtree(out, ignore_errors=True)
    assert result.returncode == 0, f"{ranks}\n--- torchrun:\n{result.stderr[-1500:]}"
    assert sorted(p.name for p in out.glob("rank*")) == ["rank0-of-2", "rank1-of-2"]
    assert (out / "style.pth").is_file()


def test_a_process_group_started_by_the_caller_is_left_to_the_caller(images):
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        train_style(config(images, steps=1), progress=False)
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()


def test_non_finite_loss_stops_before_the_update(images):
    with pytest.raises(FloatingPointError, match="loss is (nan|inf) at step 1"):
        train_style(config(images, weights=LossWeights(1e300, 1.0, 0.0)), progress=False)  # finite, overflows float32


def test_content_images_leave_out_the_runs_own_output_folder(tmp_path):
    from pyfast.style.data import ContentImages

    rng = np.random.default_rng(0)
    for name in ("a.png", "runs/preview.png", "runs/style.png"):
        write_image(tmp_path / name, rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    assert [p.name for p in ContentImages(tmp_path, 16, exclude=[tmp_path / "runs"]).paths] == ["a.png"]
