"""The command line behind train/vae.py, train/gan.py and train/classifier.py."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from genlab import checkpoints as ckpt
from genlab.augment import parse_policy
from genlab.data import DataError
from genlab.models import MODEL_KINDS
from genlab.training.config import STATE_NAME, TrainConfig, TrainingDiverged
from genlab.training.loop import train


DEFAULTS = {
    "vae": {"lr": 1e-3, "epochs": 20, "latent_dim": 16},
    "gan": {"lr": 2e-4, "epochs": 20, "latent_dim": 32},
    "classifier": {"lr": 2e-3, "epochs": 12, "latent_dim": None},
    "diffusion": {"lr": 1e-3, "epochs": 25, "latent_dim": None},
    "latent-diffusion": {"lr": 1e-3, "epochs": 100, "latent_dim": None},
}
TITLES = {"classifier": "classifier", "diffusion": "diffusion model (flow matching)",
          "latent-diffusion": "latent diffusion prior for a VAE"}


def build_parser(kind: str) -> argparse.ArgumentParser:
    dflt = DEFAULTS[kind]
    p = argparse.ArgumentParser(
        prog=f"train/{kind}.py",
        description=f"Train a {TITLES.get(kind, kind.upper())} and write a "
                    f"checkpoint folder (config.json + model.safetensors) that the app lists.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", default="mnist",
                   help="mnist, fashion-mnist, synthetic, or a path to a folder of IDX files or of images")
    p.add_argument("--data-dir", default=None, help="folder holding the four IDX files (gzipped or not)")
    p.add_argument("--download", action="store_true", help="download MNIST/Fashion-MNIST with torchvision if missing")
    p.add_argument("--epochs", type=int, default=dflt["epochs"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=dflt["lr"])
    p.add_argument("--schedule", choices=["cosine", "constant"], default="constant" if kind == "gan" else "cosine")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--out", default=None, help="checkpoint folder (default: checkpoints/<dataset>-<kind>...)")
    p.add_argument("--resume", action="store_true", help="continue from the last complete epoch in --out")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--image-size", type=int, default=None, choices=[28, 32, 64],
                   help="default: 28 for MNIST-format data, 64 for an image folder")
    p.add_argument("--channels", type=int, default=None, choices=[1, 3],
                   help="default: 1 for MNIST-format data, 3 for an image folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for PyTorch (default: its own choice; on a busy machine 1 can be faster)")
    p.add_argument("--no-mixed-precision", action="store_true",
                   help="on CUDA, train in float32 instead of bf16 autocast (the CPU always uses float32)")
    p.add_argument("--push-to-hub", metavar="REPO_ID", default=None,
                   help="after the last epoch, upload the checkpoint to this Hugging Face Hub model repo "
                        "(needs `hf auth login` or HF_TOKEN)")
    if kind in ("vae", "gan"):
        p.add_argument("--latent-dim", type=int, default=dflt["latent_dim"])
    if kind == "vae":
        p.add_argument("--beta", type=float, default=1.0, help="weight of the KL term")
        p.add_argument("--base-width", type=int, default=32)
        p.add_argument("--hidden-dim", type=int, default=256)
    if kind == "gan":
        p.add_argument("--loss", choices=["non-saturating", "hinge"], default="non-saturating")
        p.add_argument("--no-spectral-norm", action="store_true", help="plain DCGAN discriminator")
        p.add_argument("--conditional", action="store_true", help="class-conditional generator")
        p.add_argument("--classes-from-latent", action="store_true",
                       help="class-conditional, with the class read from the latent (argmax of its first 10 "
                            "coordinates): the generator needs z only, so sliders, GANSpace and inversion work")
        p.add_argument("--generator-steps", type=int, default=1, help="generator updates per D update")
        p.add_argument("--lr-discriminator", type=float, default=None,
                       help="the discriminator's learning rate (default: --lr)")
        p.add_argument("--ema-decay", type=float, default=0.999,
                       help="decay of the generator's moving average that is shipped (0: the last weights)")
        p.add_argument("--diffaugment", default="", metavar="POLICY",
                       help="differentiable augmentation of everything D sees (real and fake): a comma-separated "
                            "subset of color,translation,cutout (empty: none)")
        p.add_argument("--r1", type=float, default=0.0, metavar="GAMMA",
                       help="R1 penalty weight on D's gradient at real images (0: off)")
        p.add_argument("--r1-every", type=int, default=4, help="apply R1 every N discriminator steps (lazy)")
        p.add_argument("--class-head", choices=["projection", "auxiliary"], default="projection",
                       help="conditional: how D uses the classes (projection, or an auxiliary class head "
                            "trained on real images that G's images must satisfy)")
        p.add_argument("--class-weight", type=float, default=1.0, help="weight of the auxiliary class losses")
        p.add_argument("--mode-seeking", type=float, default=0.0, metavar="WEIGHT",
                       help="mode-seeking term (Mao et al. 2019): G is rewarded for different images from "
                            "different z of one class; keeps a conditional G from drawing one image per class")
        p.add_argument("--minibatch-std", type=int, default=0, metavar="GROUP",
                       help="minibatch standard deviation (Karras et al. 2018): D also sees how varied each "
                            "group of GROUP images is, so G must draw the data's variety (0: off; 4 is usual)")
        p.add_argument("--width", type=int, default=64, help="generator and discriminator width")
        p.add_argument("--discriminator-width", type=int, default=None,
                       help="the discriminator's width when it should differ from --width")
        p.add_argument("--refine-convs", type=int, default=1,
                       help="3x3 convolutions per resolution in both networks (0: plain DCGAN layout)")
    if kind == "classifier":
        p.add_argument("--width", type=int, default=32)
    if kind in ("diffusion", "latent-diffusion"):
        p.add_argument("--ema-decay", type=float, default=0.999,
                       help="decay of the moving average of the weights that is shipped (0: the last weights)")
        p.add_argument("--time-dim", type=int, default=None, help="width of the time embedding")
        p.add_argument("--sample-steps", type=int, default=None,
                       help="default Heun steps of the sampler (the epoch grids use it too)")
    if kind == "diffusion":
        p.add_argument("--base-width", type=int, default=32, help="U-Net channels at full resolution")
        p.add_argument("--channel-mults", default="1,2,2",
                       help="comma-separated width multipliers, one per resolution level")
        p.add_argument("--blocks-per-level", type=int, default=1)
        p.add_argument("--no-attention", action="store_true", help="no self-attention at the lowest resolution")
        p.add_argument("--conditional", action="store_true",
                       help="class-conditional with a 'no class' token (classifier-free guidance); "
                            "unconditional sampling still works")
        p.add_argument("--dropout", type=float, default=0.0)
    if kind == "latent-diffusion":
        p.add_argument("--vae", required=True, metavar="FOLDER",
                       help="the VAE checkpoint folder whose latent codes the prior learns; the prior's "
                            "folder must sit beside it (default --out: <vae>-latent-diffusion next to it)")
        p.add_argument("--width", type=int, default=256, help="width of the residual MLP")
        p.add_argument("--depth", type=int, default=4, help="residual MLP blocks")
        p.add_argument("--latent-noise", type=float, default=0.0,
                       help="train on mu + NOISE * sigma * eps instead of the posterior means mu")
    return p


def _latent_config(args: argparse.Namespace, config_cls: Any) -> tuple[Any, str, str]:
    """A latent prior's config (with its VAE's code statistics), the VAE's dataset and folder name."""
    from genlab.data import load_dataset

    vae_folder = Path(args.vae)
    if not (vae_folder / ckpt.CONFIG_NAME).is_file() and (ckpt.DEFAULT_CHECKPOINT_DIR / args.vae).is_dir():
        vae_folder = ckpt.DEFAULT_CHECKPOINT_DIR / args.vae
    vae = ckpt.load_checkpoint(vae_folder)
    if vae.kind != "vae":
        raise ValueError(f"--vae {args.vae}: {vae.name} is a {vae.kind}, not a VAE.")
    vc = vae.config
    data = load_dataset(args.dataset, "train", args.data_dir, vc.image_size, vc.channels, args.download, args.seed)
    images = data.images[:args.limit] if args.limit else data.images
    with torch.no_grad():
        mu = torch.cat([vae.model.encode(images[i:i + 1000])[0] for i in range(0, len(images), 1000)])
    mc = config_cls(vae=vae_folder.resolve().name, latent_dim=vc.latent_dim, image_size=vc.image_size,
                    channels=vc.channels, width=args.width, depth=args.depth,
                    time_dim=args.time_dim or 64, sample_steps=args.sample_steps or 20,
                    latent_mean=[round(float(v), 6) for v in mu.mean(0)],
                    latent_std=[round(float(v), 6) for v in mu.std(0).clamp_min(1e-3)],
                    latent_noise=args.latent_noise)
    return mc, vae.dataset, vae_folder


def _is_image_folder(dataset: str) -> bool:
    from genlab.data import has_idx_files

    return dataset.lower() not in ("mnist", "fashion-mnist", "synthetic") and not has_idx_files(dataset)


def configs_from_args(kind: str, args: argparse.Namespace) -> tuple[Any, TrainConfig]:
    """Turn parsed arguments into (model config, TrainConfig)."""
    folder = _is_image_folder(args.dataset)
    image_size = args.image_size or (64 if folder else 28)
    channels = args.channels or (3 if folder else 1)
    config_cls = MODEL_KINDS[kind][1]
    if kind == "vae":
        mc = config_cls(image_size=image_size, channels=channels, latent_dim=args.latent_dim,
                        beta=args.beta, base_width=args.base_width, hidden_dim=args.hidden_dim)
    elif kind == "gan":
        mc = config_cls(image_size=image_size, channels=channels, latent_dim=args.latent_dim,
                        generator_width=args.width, discriminator_width=args.discriminator_width or args.width,
                        spectral_norm=not args.no_spectral_norm, loss=args.loss,
                        num_classes=10 if args.conditional or args.classes_from_latent else 0,
                        classes_from_latent=args.classes_from_latent, class_head=args.class_head,
                        refine_convs=args.refine_convs, minibatch_std=args.minibatch_std)
    elif kind == "diffusion":
        mults = tuple(int(m) for m in str(args.channel_mults).split(",") if m.strip())
        mc = config_cls(image_size=image_size, channels=channels, base_width=args.base_width, channel_mults=mults,
                        blocks_per_level=args.blocks_per_level, time_dim=args.time_dim or 128,
                        attention=not args.no_attention, num_classes=10 if args.conditional else 0,
                        dropout=args.dropout, sample_steps=args.sample_steps or 10)
    elif kind == "latent-diffusion":
        mc = None  # below: it needs the VAE and the data
    else:
        mc = config_cls(image_size=image_size, channels=channels, width=args.width)
    name = Path(args.dataset).name if folder else args.dataset.lower()
    suffix = f"-{args.latent_dim}" if kind in ("vae", "gan") else ""
    out = args.out or str(ckpt.DEFAULT_CHECKPOINT_DIR / f"{name}-{kind}{suffix}")
    if kind == "latent-diffusion":
        resuming = args.resume and args.out and (Path(args.out) / STATE_NAME).is_file()
        mc, _, vae_folder = _latent_config(args, config_cls) if not resuming else (
            MODEL_KINDS[kind][1](vae=Path(args.vae).name), None, Path(args.vae))
        out = args.out or str(vae_folder.parent / f"{vae_folder.name}-latent-diffusion")
    tc = TrainConfig(
        dataset=args.dataset, data_dir=args.data_dir, download=args.download, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, schedule=args.schedule, seed=args.seed,
        device=args.device, out=out, resume=args.resume, limit=args.limit,
        generator_steps=getattr(args, "generator_steps", 1),
        lr_discriminator=getattr(args, "lr_discriminator", None), ema_decay=getattr(args, "ema_decay", 0.999),
        diffaugment=",".join(parse_policy(getattr(args, "diffaugment", ""))),
        class_weight=getattr(args, "class_weight", 1.0), mode_seeking=getattr(args, "mode_seeking", 0.0),
        r1_gamma=getattr(args, "r1", 0.0), r1_every=max(1, getattr(args, "r1_every", 4)), progress=not args.no_progress,
        mixed_precision=not args.no_mixed_precision,
    )
    return mc, tc


def main(kind: str, argv: list[str] | None = None) -> int:
    """Command-line entry point shared by train/vae.py, train/gan.py and train/classifier.py."""
    args = build_parser(kind).parse_args(argv)
    if args.threads:
        torch.set_num_threads(max(1, args.threads))
    try:
        check_device(args.device)
        if args.push_to_hub:
            check_hub_repo(args.push_to_hub)  # fail now, not after hours of training
        model_config, tc = configs_from_args(kind, args)
        out = train(kind, model_config, tc)
    except (TrainingDiverged, DataError, ckpt.CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted: the last complete epoch is saved; rerun with --resume to continue.", file=sys.stderr)
        return 130
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"Saved {out}")
        if args.push_to_hub:
            from genlab.hub import push_to_hub

            try:
                url = push_to_hub(out, args.push_to_hub)
            except ckpt.CheckpointError as e:
                print(f"error: {e} The checkpoint is kept in {out}; rerun the same command with --resume "
                      f"to push it again.", file=sys.stderr)
                return 1
            print(f"Pushed {out} to {url}")
    return 0


def check_device(device: str) -> None:
    """Raise ValueError with a clear sentence unless `device` exists here."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device {device!r} is not a device PyTorch knows: use cpu, cuda or cuda:N.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but PyTorch sees no CUDA GPU here. Use --device cpu.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device} was asked for, but there are only "
                             f"{torch.cuda.device_count()} CUDA GPU(s) here (cuda:0 ...).")


def check_hub_repo(repo_id: str) -> None:
    """Raise ValueError unless `repo_id` is a valid Hub repo id and a Hub token is available."""
    from huggingface_hub import get_token
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise ValueError(f"--push-to-hub {repo_id!r} is not a valid Hub repo id (expected 'owner/name'): {e}") from None
    if get_token() is None:
        raise ValueError("--push-to-hub needs a Hugging Face token: run `hf auth login` or set HF_TOKEN.")
