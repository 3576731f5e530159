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


def test_sections_are_written_in_place_or_after_the_quality_part(tmp_path):
    from bench.quality import write_in_place

    path = tmp_path / "B.md"
    path.write_text("# Benchmarks\n\n## Training cost of the shipped checkpoints\n\nold cost\n\n## Latency\n\nfast\n")
    write_in_place(["## Sample quality\n\nfirst"], path, log=lambda m: None)
    assert path.read_text() == ("# Benchmarks\n\n## Training cost of the shipped checkpoints\n\nold cost\n\n"
                                "## Sample quality\n\nfirst\n\n## Latency\n\nfast\n")
    write_in_place(["## Sample quality\n\nsecond\n"], path, log=lambda m: None)
    text = path.read_text()
    assert "second" in text and "first" not in text and text.count("## Sample quality") == 1
    assert text.endswith("## Latency\n\nfast\n")


def test_a_kind_the_service_cannot_sample_falls_back_to_the_evaluate_sampler(tmp_path):
    from bench.quality import app_sampler
    from genlab.checkpoints import Checkpoint
    from genlab.models import DiffusionConfig, DiffusionUNet

    class NoSampling:
        def sample(self, count, seed):
            raise AttributeError("no latent_dim")

    class Sampling:
        def sample(self, count, seed):
            return torch.full((count, 1, 28, 28), seed / 2**31)

    unet = DiffusionUNet(DiffusionConfig(base_width=8, channel_mults=(1, 2), time_dim=16, sample_steps=2)).eval()
    c = Checkpoint("tiny-diffusion", "diffusion", unet, tmp_path)
    sampler, path = app_sampler(NoSampling(), c, log=lambda m: None)
    assert path == "`checkpoint_sampler`" and sampler(3, torch.Generator().manual_seed(0)).shape == (3, 1, 28, 28)
    sampler, path = app_sampler(Sampling(), c, log=lambda m: None)
    first, again = (sampler(2, torch.Generator().manual_seed(5)) for _ in range(2))
    assert path == "`ModelService.sample`" and torch.equal(first, again)  # the seed comes from the generator
