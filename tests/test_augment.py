"""DiffAugment (genlab.augment) and the GAN step that uses it: shapes, gradients, seeding, identity."""

from __future__ import annotations

import pytest
import torch

from genlab import augment
from genlab.augment import POLICIES, diff_augment, parse_policy
from genlab.models.gan import GAN, GANConfig
from genlab.training import Dist, GANTask, TrainConfig, build_parser, configs_from_args, main

ALL = "color,translation,cutout"


def images(b: int = 6, c: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.rand((b, c, size, size), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("policy", [*POLICIES, ALL])
def test_shapes_and_dtype_are_kept(policy, channels):
    x = images(c=channels, size=32)
    y = diff_augment(x, policy, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("policy", [*POLICIES, ALL])
def test_gradients_flow_back_to_the_images(policy):
    x = images().requires_grad_(True)
    diff_augment(x, policy, torch.Generator().manual_seed(1)).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_the_same_seed_gives_the_same_transform_and_another_seed_another():
    x = images(b=16)
    a = diff_augment(x, ALL, torch.Generator().manual_seed(7))
    b = diff_augment(x, ALL, torch.Generator().manual_seed(7))
    c = diff_augment(x, ALL, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("policy", ["", None, "none", []])
def test_no_policy_is_the_identity(policy):
    x = images()
    assert diff_augment(x, policy, torch.Generator().manual_seed(0)) is x


def test_translation_moves_pixels_without_changing_them():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 14, 14] = 1.0
    y = augment.translation(x, torch.Generator().manual_seed(3))
    assert y.sum() == 1.0  # shifts are 4 pixels at most: the centre pixel stays inside
    row, col = (y[0, 0] == 1).nonzero()[0].tolist()
    assert abs(row - 14) <= 4 and abs(col - 14) <= 4


def test_cutout_zeroes_a_square_of_half_the_size_at_most():
    x = torch.ones(32, 1, 28, 28)
    y = augment.cutout(x, torch.Generator().manual_seed(0))
    zeros = (y == 0).flatten(1).sum(1)
    assert (zeros > 0).all() and (zeros <= 14 * 14).all()
    assert set(y.unique().tolist()) <= {0.0, 1.0}


def test_color_changes_each_image_by_its_own_draw():
    x = images(b=8)
    y = augment.color(x, torch.Generator().manual_seed(0))
    shifts = (y - x).mean(dim=(1, 2, 3))
    assert len(set(round(v, 5) for v in shifts.tolist())) > 1


def test_unknown_policies_are_a_clear_error():
    assert parse_policy("Translation, cutout") == ("translation", "cutout")
    with pytest.raises(ValueError, match="Unknown augmentation 'rotate'"):
        parse_policy("translation,rotate")
    assert main("gan", ["--dataset", "synthetic", "--diffaugment", "rotate", "--out", "unused"]) == 1


def test_the_command_line_fills_the_train_config():
    args = build_parser("gan").parse_args(["--diffaugment", "cutout,translation", "--r1", "0.5", "--r1-every", "2",
                                           "--out", "x"])
    _, tc = configs_from_args("gan", args)
    assert (tc.diffaugment, tc.r1_gamma, tc.r1_every) == ("cutout,translation", 0.5, 2)


def tiny_gan_task(tmp_path, **tc_fields) -> tuple[GAN, GANTask]:
    torch.manual_seed(0)
    gan = GAN(GANConfig(latent_dim=4, generator_width=8, discriminator_width=8))
    tc = TrainConfig(dataset="synthetic", out=str(tmp_path), progress=False, **tc_fields)
    task = GANTask(gan, tc, torch.device("cpu"), Dist())
    task.optimizers()
    task.wrap()
    gan.train()
    return gan, task


@pytest.mark.parametrize("fields", [{"diffaugment": ALL}, {"diffaugment": ALL, "r1_gamma": 1.0, "r1_every": 1}])
def test_a_gan_step_with_augmentation_and_r1_trains_both_networks(tmp_path, fields):
    gan, task = tiny_gan_task(tmp_path, **fields)
    before = {k: v.clone() for k, v in gan.state_dict().items()}
    values = task.step(images(b=8), torch.zeros(8, dtype=torch.long), torch.Generator().manual_seed(0))
    assert all(torch.isfinite(v) for v in values.values())
    assert ("r1" in values) == ("r1_gamma" in fields)
    if "r1_gamma" in fields:
        assert values["r1"] > 0
    for part in ("generator.", "discriminator."):
        assert any(not torch.equal(before[k], v) for k, v in gan.state_dict().items() if k.startswith(part)), part


def test_r1_is_lazy(tmp_path):
    _, task = tiny_gan_task(tmp_path, r1_gamma=1.0, r1_every=3)
    g = torch.Generator().manual_seed(0)
    measured = []
    for _ in range(4):
        task.step(images(b=8), torch.zeros(8, dtype=torch.long), g)
        measured.append(float(task.last_r1))
    assert measured[0] == measured[1] == measured[2] != measured[3]  # measured at steps 0 and 3 only
