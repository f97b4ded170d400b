import torch

from pyfast.models import VGG16Features
from pyfast.ops import reference
from pyfast.style.losses import LossWeights, PerceptualLoss


def make_loss(compiled=True, weights=None):
    torch.manual_seed(0)
    net = VGG16Features(width=0.125)
    style = torch.rand(1, 3, 32, 32) * 255
    return PerceptualLoss(net, style, weights or LossWeights(1.0, 1.0, 1e-3), compiled=compiled)


def test_terms_and_their_definition():
    loss = make_loss()
    out, content = torch.rand(2, 3, 24, 24) * 255, torch.rand(2, 3, 24, 24) * 255
    terms = loss(out, content)
    assert set(terms) == {"content", "style", "tv", "total"}
    torch.testing.assert_close(terms["total"], terms["content"] + terms["style"] + terms["tv"])
    # content term is the relu2_2 MSE
    f_out = loss.loss_net(out, ("relu2_2",))["relu2_2"]
    f_con = loss.loss_net(content, ("relu2_2",))["relu2_2"]
    torch.testing.assert_close(terms["content"], ((f_out - f_con) ** 2).mean())
    torch.testing.assert_close(terms["tv"], 1e-3 * reference.total_variation(out))


def test_style_term_is_zero_for_the_style_image():
    torch.manual_seed(0)
    net = VGG16Features(width=0.125)
    style = torch.rand(1, 3, 32, 32) * 255
    loss = PerceptualLoss(net, style, LossWeights(1.0, 1.0))
    assert loss(style, style)["style"].item() < 1e-10


def test_compiled_and_plain_formulations_agree_with_gradients():
    out = (torch.rand(2, 3, 24, 24) * 255).requires_grad_()
    content = torch.rand(2, 3, 24, 24) * 255
    grads = []
    for compiled in (True, False):
        terms = make_loss(compiled)(out, content)
        (g,) = torch.autograd.grad(terms["total"], out)
        grads.append((terms["total"].detach(), g))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-4, atol=0)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-3, atol=1e-6)


def test_normalized_weights_balance_layers():
    loss = make_loss(weights=LossWeights(1.0, 1.0, 0.0, normalized=True))
    terms = loss(torch.rand(1, 3, 24, 24) * 255, torch.rand(1, 3, 24, 24) * 255)
    # each normalised layer error is O(1), whatever the activation scale
    assert 0.01 < terms["style"].item() < 40 and 0.01 < terms["content"].item() < 10
