"""The baselines of bench/quality.py and its small helpers (the benchmark itself runs in bench/run.py)."""

from __future__ import annotations

import math

import torch

from bench.quality import _batches_forever, shipped_recipes, table
from bench.reference_models import DCGAN28, DCGANConfig, ReferenceVAE, reference_vae_loss


def test_reference_vae_shapes_and_loss_by_hand():
    torch.manual_seed(0)
    model = ReferenceVAE()
    x = torch.rand((2, 1, 28, 28), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        recon, mu, logvar = model(x, torch.Generator().manual_seed(2))
    assert recon.shape == (2, 784) and mu.shape == (2, 20) and logvar.shape == (2, 20)
    assert 0 < float(recon.min()) and float(recon.max()) < 1

    # Summed over both images: -sum[x log r + (1 - x) log(1 - r)] + sum over dims of KL.
    flat = x.reshape(2, 784)
    bce = -(flat * recon.log() + (1 - flat) * (1 - recon).log()).sum()
    kl = sum(0.5 * (m * m + math.exp(lv) - 1 - lv) for m, lv in zip(mu.flatten().tolist(), logvar.flatten().tolist()))
    assert torch.allclose(reference_vae_loss(recon, x, mu, logvar), bce + kl, rtol=1e-5)


def test_reference_vae_noise_comes_from_the_generator():
    model = ReferenceVAE()
    x = torch.rand((3, 1, 28, 28))
    a = model(x, torch.Generator().manual_seed(5))[0]
    b = model(x, torch.Generator().manual_seed(5))[0]
    c = model(x, torch.Generator().manual_seed(6))[0]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_dcgan28_shapes_and_one_step():
    gan = DCGAN28(DCGANConfig(latent_dim=8, generator_width=4, discriminator_width=4), seed=0)
    z = torch.randn((5, 8))
    assert gan.G(z).shape == (5, 1, 28, 28) and gan.D(gan.G(z)).shape == (5,)
    before = [p.clone() for p in gan.G.parameters()]
    losses = gan.step(torch.rand((6, 1, 28, 28)), torch.Generator().manual_seed(0))
    assert all(math.isfinite(v) for v in losses.values())
    assert any(not torch.equal(p, q) for p, q in zip(before, gan.G.parameters()))
    images = gan.sample(z)
    assert images.shape == (5, 1, 28, 28) and 0 <= float(images.min()) and float(images.max()) <= 1


def test_shipped_recipes_reads_run_lines(tmp_path):
    script = tmp_path / "ship.sh"
    script.write_text(
        "run() {  # run KIND OUT ARGS...\n  echo $1\n}\n"
        "run vae  a-vae   --dataset mnist --epochs 3  # a comment\n"
        "run gan  b-gan   --dataset mnist --lr 2e-3 \\\n      --limit 40\n"
    )
    assert shipped_recipes(script) == {
        "a-vae": ("vae", ["--dataset", "mnist", "--epochs", "3"]),
        "b-gan": ("gan", ["--dataset", "mnist", "--lr", "2e-3", "--limit", "40"]),
    }


def test_batches_cover_every_image_once_per_epoch():
    seen = {}
    for epoch, s, steps, idx in _batches_forever(10, 4, seed=0):
        if epoch == 2:
            break
        assert steps == 3
        seen.setdefault(epoch, []).extend(idx.tolist())
    assert sorted(seen[0]) == sorted(seen[1]) == list(range(10)) and seen[0] != seen[1]


def test_table_is_markdown():
    assert table(["a", "b"], [[1, "x"]]) == "| a | b |\n|---|---|\n| 1 | x |"
