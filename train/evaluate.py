"""Measure the VAE vs GAN trade-offs for one dataset and store them beside the checkpoints.

    python train/evaluate.py --dataset mnist
    python train/evaluate.py --dataset fashion-mnist --checkpoints my_checkpoints --num-samples 4000
    python train/evaluate.py --dataset mnist --steps-curve mnist-diffusion --num-samples 1000

Finds the dataset's 16-d VAE (preferring <dataset>-vae-16), its unconditional GAN (preferring
<dataset>-gan-32, never one named "collapsed") and its classifier in the checkpoints folder, runs
`genlab.metrics.compare_models`, adds the class histogram of every GAN of that dataset (so the
"How a GAN trains" tab can show a collapsed GAN next to a stable one), and writes it all
atomically to <checkpoints>/<dataset>-comparison.json, which the app's "VAE vs GAN" tab reads.

With --steps-curve NAME it measures only the diffusion checkpoint NAME's sample quality at 1, 2, 4,
8, 16 and 32 Heun steps (`genlab.metrics.steps_curve`) and writes <checkpoints>/NAME-steps.json,
which the app's "How diffusion works" tab reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from tqdm.auto import tqdm  # noqa: E402

from genlab import metrics  # noqa: E402
from genlab.checkpoints import (  # noqa: E402
    DEFAULT_CHECKPOINT_DIR, CheckpointError, atomic_write_json, list_checkpoints, load_checkpoint, read_config,
)
from genlab.data import DataError, load_dataset  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, help="mnist or fashion-mnist (the 'dataset' in config.json)")
    p.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINT_DIR), help="folder of checkpoint folders")
    p.add_argument("--out", default=None, help="output file (default: <checkpoints>/<dataset>-comparison.json)")
    p.add_argument("--data-dir", default=None, help="folder of the dataset's IDX files, if not in a default place")
    p.add_argument("--num-samples", type=int, default=2000, help="samples per model (and real test images)")
    p.add_argument("--iwae-k", type=int, default=64, help="importance samples of the IWAE bound")
    p.add_argument("--encoder-images", type=int, default=8, help="test images encoded (VAE) and inverted (GAN)")
    p.add_argument("--inversion-steps", type=int, default=200, help="gradient steps of each GAN inversion")
    p.add_argument("--inversion-restarts", type=int, default=4, help="random starts of each GAN inversion")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--vae", default=None, help="VAE checkpoint name (default: chosen as above)")
    p.add_argument("--gan", default=None, help="GAN checkpoint name")
    p.add_argument("--classifier", default=None, help="classifier checkpoint name")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--also", action="append", default=[], metavar="NAME",
                   help="also measure this checkpoint's samples (diffusion, latent-diffusion, VAE or GAN) "
                        "against the same real images and floor: FD, precision, recall, classes, ms per "
                        "sample (repeatable; results under 'also' in the JSON)")
    p.add_argument("--only-also", action="store_true",
                   help="measure only the --also checkpoints (no VAE-vs-GAN comparison); the JSON goes to "
                        "<checkpoints>/<dataset>-samplers.json unless --out says otherwise")
    p.add_argument("--reconstructions", action="store_true",
                   help="for each VAE given with --also, measure its reconstructions of real test images too "
                        "(the limit a prior over its latent can reach)")
    p.add_argument("--steps", type=int, default=None,
                   help="sampling steps of the diffusion models (default: each checkpoint's sample_steps)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="scale of the diffusion models' starting noise (1: their own distribution)")
    p.add_argument("--steps-curve", default=None, metavar="NAME",
                   help="measure only this diffusion checkpoint's quality against its number of steps and write "
                        "<checkpoints>/NAME-steps.json (for the 'How diffusion works' tab)")
    p.add_argument("--curve-steps", default=",".join(str(s) for s in metrics.CURVE_STEPS),
                   help="the step counts of --steps-curve, comma-separated")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    return p.parse_args(argv)


def measure_also(args: argparse.Namespace, root: Path, folders: dict, infos: dict, clf, test,
                 progress_disabled: bool) -> dict:
    """The --also checkpoints' realism numbers, each against the same real images and floor."""
    out: dict = {}
    floor = None
    for name in tqdm(args.also, desc="Sampling the --also models", disable=progress_disabled):
        if name not in folders:
            raise CheckpointError(f"There is no checkpoint called {name!r} in {root}.")
        c = load_checkpoint(folders[name], args.device)
        sampler = metrics.checkpoint_sampler(c, steps=args.steps, temperature=args.temperature)
        entry = metrics.sampler_quality(sampler, clf, test, args.num_samples, args.seed, floor=floor)
        entry["kind"] = c.kind
        if c.kind in ("diffusion", "latent-diffusion"):
            entry["steps"] = args.steps or c.config.sample_steps
            entry["temperature"] = args.temperature
        floor = entry["floor"]
        out[name] = entry
        if args.reconstructions and c.kind == "vae":
            rec = metrics.reconstruction_quality(c.model, clf, test, args.num_samples, args.seed, floor=floor)
            rec["kind"] = "vae reconstructions"
            out[f"{name} reconstructions"] = rec
    return out


def measure_steps_curve(args: argparse.Namespace, root: Path, folders: dict, classifier: str) -> tuple[Path, dict]:
    """--steps-curve: the diffusion checkpoint's quality at each of --curve-steps -> (the JSON's path, result)."""
    name = args.steps_curve
    if name not in folders:
        raise CheckpointError(f"There is no checkpoint called {name!r} in {root}.")
    try:
        steps = [int(s) for s in str(args.curve_steps).split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--curve-steps takes whole numbers separated by commas, got {args.curve_steps!r}.") from None
    c = load_checkpoint(folders[name], args.device)
    if c.dataset != args.dataset:
        raise ValueError(f"{name} was trained on {c.dataset!r}, not {args.dataset!r}.")
    clf = load_checkpoint(folders[classifier], args.device).model
    test = load_dataset(args.dataset, "test", args.data_dir, clf.config.image_size, clf.config.channels)
    bar = tqdm(total=100, desc=f"Steps curve of {name}", disable=args.no_progress, unit="%")

    def progress(fraction: float, desc: str) -> None:
        bar.set_postfix_str(desc, refresh=False)
        bar.update(round(100 * fraction) - bar.n)

    result = metrics.steps_curve(c, clf, test, steps, args.num_samples, args.seed, progress,
                                 classifier_name=classifier)
    bar.close()
    out = Path(args.out) if args.out else metrics.steps_curve_path(root, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, result)
    return out, result


def print_steps_curve(result: dict) -> None:
    fl = result["floor"]
    print(f"{result['model']}: {result['num_samples']} samples per step count, floor FD {fl['frechet_distance']:.2f}, "
          f"real confident {fl['confident']:.1%}")
    for r in result["curve"]:
        print(f"  {r['steps']:>3} steps ({r['network_passes']:>3} passes): FD {r['frechet_distance']:.2f} = "
              f"{r['fd_over_floor']:.2f}x the floor, confident {r['confident']:.1%}, precision {r['precision']:.3f}, "
              f"recall {r['recall']:.3f}, {r['ms_per_sample']:.1f} ms per sample alone")


def evaluate(args: argparse.Namespace) -> tuple[Path, dict]:
    """Run the comparison that `args` describe and write it -> (the JSON's path, the result)."""
    root = Path(args.checkpoints)
    folders = list_checkpoints(root)
    infos = {name: read_config(folder) for name, folder in folders.items()}
    chosen = metrics.choose_models(infos, args.dataset)
    chosen.update({k: v for k, v in (("vae", args.vae), ("gan", args.gan), ("classifier", args.classifier)) if v})
    for kind, name in chosen.items():
        if (args.only_also or args.steps_curve) and kind != "classifier":
            continue
        if name is None:
            raise CheckpointError(
                f"There is no {kind} for {args.dataset!r} in {root}; train one first "
                f"(python train/{kind}.py --dataset {args.dataset})."
            )
        if name not in folders:
            raise CheckpointError(f"There is no checkpoint called {name!r} in {root}.")
    if args.steps_curve:
        return measure_steps_curve(args, root, folders, chosen["classifier"])
    if args.only_also:
        clf = load_checkpoint(folders[chosen["classifier"]], args.device).model
        test = load_dataset(args.dataset, "test", args.data_dir, clf.config.image_size, clf.config.channels)
        result = {"dataset": args.dataset, "classifier": chosen["classifier"], "num_samples": args.num_samples,
                  "seed": args.seed,
                  "also": measure_also(args, root, folders, infos, clf, test, args.no_progress)}
        out = Path(args.out) if args.out else root / f"{args.dataset}-samplers.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out, result)
        return out, result
    loaded = {kind: load_checkpoint(folders[name], args.device) for kind, name in chosen.items()}
    clf = loaded["classifier"].model
    test = load_dataset(args.dataset, "test", args.data_dir, clf.config.image_size, clf.config.channels)

    bar = tqdm(total=100, desc=f"Comparing on {args.dataset}", disable=args.no_progress, unit="%")

    def progress(fraction: float, desc: str) -> None:
        bar.set_postfix_str(desc, refresh=False)
        bar.update(round(100 * fraction) - bar.n)

    result = metrics.compare_models(loaded["vae"], loaded["gan"], loaded["classifier"], test,
                                    num_samples=args.num_samples, seed=args.seed, progress=progress,
                                    iwae_k=args.iwae_k, encoder_images=args.encoder_images,
                                    inversion_steps=args.inversion_steps,
                                    inversion_restarts=args.inversion_restarts)
    bar.close()

    # Every GAN of the dataset, the collapsed one included: its class histogram.
    gan_names = sorted(n for n, i in infos.items() if i["kind"] == "gan" and i.get("dataset") == args.dataset)
    result["gan_class_histograms"] = {}
    for name in tqdm(gan_names, desc="Class histograms of the GANs", disable=args.no_progress):
        gan = loaded["gan"] if name == chosen["gan"] else load_checkpoint(folders[name], args.device)
        if gan.model.config.needs_labels:
            continue  # a conditional GAN draws the classes it is told to; no histogram to read
        result["gan_class_histograms"][name] = metrics.class_distribution(
            gan.model, clf, num_samples=args.num_samples, seed=args.seed)

    if args.also:
        result["also"] = measure_also(args, root, folders, infos, clf, test, args.no_progress)
    out = Path(args.out) if args.out else metrics.comparison_path(root, args.dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, result)
    return out, result


def print_also(also: dict) -> None:
    for name, e in also.items():
        cd, fl = e["class_distribution"], e["floor"]
        steps = f", {e['steps']} steps" if "steps" in e else ""
        if e.get("temperature", 1.0) != 1.0:
            steps += f", temperature {e['temperature']}"
        print(f"{name} ({e['kind']}{steps}): FD {e['frechet_distance']:.2f} = {e['fd_over_floor']:.2f}x the floor "
              f"({fl['frechet_distance']:.2f}), precision {e['precision']:.3f}, recall {e['recall']:.3f}, "
              f"named with confidence >= {metrics.CONFIDENT} {cd['confident']:.1%} (real {fl['confident']:.1%}), "
              f"class KL to uniform {cd['kl_to_uniform']:.4f}, {e['ms_per_sample']:.1f} ms per sample alone "
              f"({e['batch_ms_per_sample']:.1f} ms in batches)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(max(1, args.threads))
    try:
        out, result = evaluate(args)
    except (CheckpointError, DataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.steps_curve:
        print_steps_curve(result)
        print(f"Saved {out} ({result['seconds']:.0f} s)")
        return 0
    if args.only_also:
        print_also(result["also"])
        print(f"Saved {out}")
        return 0
    if "also" in result:
        print_also(result["also"])
    rows = metrics.comparison_rows(result)
    width = max(len(r[0]) for r in rows)
    for row in rows:
        print(f"{row[0]:<{width}}  VAE: {row[2]}  |  GAN: {row[3]}  |  real: {row[4]}")
    m = result["metrics"]
    floor = max(m["frechet_distance"]["real"], 1e-12)  # zero only for identical halves
    for key in ("vae", "gan"):
        cd = m["class_distribution"]
        print(f"{key.upper()}: FD {m['frechet_distance'][key]:.2f} = {m['frechet_distance'][key] / floor:.1f}x the floor "
              f"({floor:.2f}, {metrics.floor_splits(m)}), precision {m['precision'][key]:.3f}, "
              f"recall {m['recall'][key]:.3f}, named with confidence >= {metrics.CONFIDENT} "
              f"{cd[key]['confident']:.1%} (real {cd['real']['confident']:.1%})")
    print(f"Saved {out} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
