import torch

from diffview.training.mlp import PointMLP
from diffview.training.unet import UNet, count_parameters, timestep_embedding


def test_timestep_embedding_is_bounded_and_separates_times():
    e = timestep_embedding(torch.tensor([0, 1, 500, 999]), 64)
    assert e.shape == (4, 64)
    assert torch.all(e.abs() <= 1.0)
    # cos(0) = 1 and sin(0) = 0 at t = 0.
    assert torch.allclose(e[0, :32], torch.ones(32)) and torch.allclose(e[0, 32:], torch.zeros(32))
    assert torch.cdist(e[1:2], e[2:3]).item() > 1.0


def test_unet_keeps_the_shape_and_answers_to_time():
    torch.manual_seed(0)
    net = UNet(channels=1, widths=(4, 8, 8), blocks=(1, 1, 1))
    # The output convolutions start at zero (each block is the identity at first), which
    # hides the time input; give every weight a random value to see it.
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.3)
    x = torch.randn(3, 1, 8, 8)
    a = net(x, torch.tensor([0, 0, 0]))
    b = net(x, torch.tensor([999, 999, 999]))
    assert a.shape == x.shape
    assert not torch.allclose(a, b)


def test_default_image_net_is_in_the_one_to_three_million_range():
    n = count_parameters(UNet(channels=1, widths=(16, 32, 96)))
    assert 1_000_000 <= n <= 3_000_000


def test_point_mlp_shape_and_float_time():
    torch.manual_seed(0)
    net = PointMLP(dim=2, hidden=16, layers=2)
    out = net(torch.randn(5, 2), torch.rand(5))
    assert out.shape == (5, 2) and out.dtype == torch.float32


def test_point_mlp_with_and_without_fourier_features():
    torch.manual_seed(0)
    raw = PointMLP(dim=2, hidden=16, layers=1, fourier=0)
    rich = PointMLP(dim=2, hidden=16, layers=1, fourier=4)
    assert raw.inp.in_features == 2 and rich.inp.in_features == 2 * (1 + 2 * 4)
    x, t = torch.randn(3, 2), torch.rand(3)
    assert raw(x, t).shape == rich(x, t).shape == (3, 2)
    # The frequencies are fixed, not weights: they stay out of the state dict.
    assert "freqs" not in rich.state_dict()
