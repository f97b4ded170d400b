import pytest
import torch

from pyfast.models import TransformerNet, create_model, list_models
from pyfast.models.transformer import MIN_SIZE, channels_for

# The parameter names of pytorch/examples' fast_neural_style TransformerNet.
EXAMPLES_KEYS = (
    ["conv1.conv2d.weight", "conv1.conv2d.bias", "in1.weight", "in1.bias",
     "conv2.conv2d.weight", "conv2.conv2d.bias", "in2.weight", "in2.bias",
     "conv3.conv2d.weight", "conv3.conv2d.bias", "in3.weight", "in3.bias"]
    + [f"res{i}.{p}" for i in range(1, 6) for p in (
        "conv1.conv2d.weight", "conv1.conv2d.bias", "in1.weight", "in1.bias",
        "conv2.conv2d.weight", "conv2.conv2d.bias", "in2.weight", "in2.bias")]
    + ["deconv1.conv2d.weight", "deconv1.conv2d.bias", "in4.weight", "in4.bias",
       "deconv2.conv2d.weight", "deconv2.conv2d.bias", "in5.weight", "in5.bias",
       "deconv3.conv2d.weight", "deconv3.conv2d.bias"]
)


def test_state_dict_keys_and_shapes_match_pytorch_examples():
    sd = TransformerNet().state_dict()
    assert list(sd) == EXAMPLES_KEYS
    assert sd["conv1.conv2d.weight"].shape == (32, 3, 9, 9)
    assert sd["conv3.conv2d.weight"].shape == (128, 64, 3, 3)
    assert sd["res5.conv2.conv2d.weight"].shape == (128, 128, 3, 3)
    assert sd["deconv3.conv2d.weight"].shape == (3, 32, 9, 9)
    assert sum(v.numel() for v in sd.values()) == 1_679_235


def test_half_width_student_has_16_32_64_channels_and_quarter_flops():
    sd = TransformerNet(width=0.5).state_dict()
    assert sd["conv1.conv2d.weight"].shape[0] == 16
    assert sd["conv2.conv2d.weight"].shape[0] == 32
    assert sd["res1.conv1.conv2d.weight"].shape == (64, 64, 3, 3)
    full = sum(v.numel() for v in TransformerNet().state_dict().values())
    assert sum(v.numel() for v in sd.values()) < full / 3.5


@pytest.mark.parametrize("size", [(256, 256), (97, 131), (5, 5), (6, 19), (130, 66)])
def test_output_has_the_input_size(size):
    x = torch.rand(2, 3, *size) * 255
    with torch.no_grad():
        assert TransformerNet(width=0.25)(x).shape == x.shape


def test_cropping_keeps_top_left_alignment():
    """A size not divisible by 4 gives the crop of the padded-to-4 result."""
    torch.manual_seed(0)
    model = TransformerNet(width=0.25).eval()
    x = torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():
        full = model(x)
        cropped = model(x[..., :62, :61])
    # Away from the cropped border, the two agree (receptive-field interior).
    torch.testing.assert_close(cropped[..., :30, :30], full[..., :30, :30], atol=0.5, rtol=0)


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.rand(1, 3, 4, 10), f"at least {MIN_SIZE}x{MIN_SIZE} pixels, got 4x10"),
        (torch.rand(1, 1, 16, 16), r"must be \(B, 3, H, W\) with B >= 1, got shape \(1, 1, 16, 16\)"),
        (torch.rand(0, 3, 16, 16), r"with B >= 1, got shape \(0, 3, 16, 16\)"),
        (torch.rand(3, 16, 16), r"got shape \(3, 16, 16\)"),
        (torch.rand(2), r"got shape \(2,\)"),
    ],
)
def test_bad_input_is_a_clear_error(x, message):
    with pytest.raises(ValueError, match=message):
        TransformerNet(width=0.25)(x)


def test_registry():
    assert {"transformer_net", "transformer_net_half", "vgg16_features"} <= set(list_models())
    assert create_model("transformer_net_half").width == 0.5
    with pytest.raises(ValueError, match="unknown model 'nope'; valid names: .*transformer_net"):
        create_model("nope")
    with pytest.raises(ValueError, match=r"width must be in \(0, 4\]"):
        TransformerNet(width=0)


@pytest.mark.parametrize("width", [float("inf"), float("nan"), 4.5, 64.0])
def test_width_must_be_finite_and_bounded(width):
    with pytest.raises(ValueError, match="width must be in"):
        TransformerNet(width=width)


@pytest.mark.parametrize("width", [0.01, 0.1, 0.2, 0.3, 0.45, 0.6, 0.7, 0.8, 1.3, 2.7])
def test_channels_keep_one_two_four_so_the_width_reads_back_from_the_first_layer(width):
    c1, c2, c3 = channels_for(width)
    assert (c2, c3) == (2 * c1, 4 * c1)
    assert channels_for(c1 / 32) == (c1, c2, c3)
