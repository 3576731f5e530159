"""Inpainting, VAE vs GAN: is the lesson's "VAE fills are smoother, GAN fills sharper" true of our models?

Per dataset: `--images` test images (a seeded sample of genlab.data.load_dataset(dataset, "test")),
their bottom half hidden, filled once each by the dataset's VAE and GAN (genlab.inpainting.fill_vae /
fill_gan, `--steps` steps, the visible pixels pasted back), and measured on the hidden region:
the squared error against the true pixels, the sharpness (variance of the Laplacian there,
genlab.inpainting.masked_sharpness) and the dataset classifier's accuracy on the completed
images. Anchors: the real images (error 0) and the hole left black (what the visible half alone
tells the classifier).

Writes the section "inpainting" of BENCHMARKS.md (bench/report.py) and, per dataset,
`<checkpoints>/<dataset>-inpainting.json`, which the app's "VAE vs GAN" tab shows
(genlab.inpainting.read_inpainting / inpainting_rows). Its schema (version 1):

    {"version": 1, "dataset": "mnist", "mask": "bottom half", "images": 200, "fills_per_image": 1,
     "steps": 200, "seed": 0,
     "models": {"vae": "mnist-vae-16", "gan": "mnist-gan-32", "classifier": "mnist-classifier"},
     "results": {"vae" | "gan" | "real" | "visible_only": {
                     "hidden_mse": mean, "hidden_mse_se": its standard error,
                     "sharpness": mean, "sharpness_se": its standard error,
                     "accuracy": share of completed images the classifier gets right,
                     "seconds": wall time of the fills (models only)}},
     "claim": {"holds": bool, "verdict": "one paragraph"},
     "created": "YYYY-MM-DD HH:MM", "command": "...", "load_average": float, "threads": int}

    nice -n 5 .venv/bin/python bench/inpainting.py                  # both datasets, 200 images each
    .venv/bin/python bench/inpainting.py --datasets mnist --images 20 --no-write
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from genlab.checkpoints import Checkpoint, atomic_write_json, load_checkpoint  # noqa: E402
from genlab.data import ImageData, load_dataset  # noqa: E402
from genlab.inpainting import (DEFAULT_STEPS, GAN_TOLERANCE, INPAINTING_COLUMNS, TOLERANCE, _job,  # noqa: E402
                               batcher, bottom_half, classify, fill_gan, fill_vae, hidden_error, inpainting_path,
                               inpainting_rows, masked_sharpness, paste, run_fills, wait_for)

SCHEMA_VERSION = 1
DEFAULT_MODELS = {"vae": "{dataset}-vae-16", "gan": "{dataset}-gan-32", "classifier": "{dataset}-classifier"}


def _stats(values: torch.Tensor) -> tuple[float, float]:
    """(mean, standard error of the mean) of a 1-d tensor."""
    v = values.double()
    n = v.numel()
    return float(v.mean()), float(v.std() / math.sqrt(n)) if n > 1 else 0.0


def _entry(completed: torch.Tensor, images: torch.Tensor, labels: torch.Tensor, hidden: torch.Tensor,
           classifier: torch.nn.Module, seconds: float | None = None) -> dict[str, Any]:
    mse, mse_se = _stats(hidden_error(completed, images, hidden))
    sharp, sharp_se = _stats(masked_sharpness(completed, hidden))
    predicted, _ = classify(classifier, completed)
    entry = {"hidden_mse": mse, "hidden_mse_se": mse_se, "sharpness": sharp, "sharpness_se": sharp_se,
             "accuracy": float((predicted == labels).float().mean())}
    if seconds is not None:
        entry["seconds"] = seconds
    return entry


def verdict(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Does "VAE fills smoother, GAN fills sharper" hold? Sharpness apart by more than 2 standard errors."""
    vae, gan, real = results["vae"], results["gan"], results["real"]
    gap = gan["sharpness"] - vae["sharpness"]
    noise = 2 * math.hypot(vae["sharpness_se"], gan["sharpness_se"])
    holds = gap > noise
    text = ("Holds" if holds else "Does not hold") + (
        f": the VAE's fills have sharpness {vae['sharpness']:.3f} and the GAN's {gan['sharpness']:.3f} "
        f"(the real hidden halves {real['sharpness']:.3f}). ")
    closer = "VAE" if vae["hidden_mse"] < gan["hidden_mse"] else "GAN"
    other = "GAN" if closer == "VAE" else "VAE"
    text += (f"The other side of the trade: the {closer}'s guesses are closer to the truth pixel by pixel "
             f"(MSE {results[closer.lower()]['hidden_mse']:.4f} vs {results[other.lower()]['hidden_mse']:.4f}), "
             f"and the classifier recognizes {100 * vae['accuracy']:.1f}% of the VAE's completions and "
             f"{100 * gan['accuracy']:.1f}% of the GAN's ({100 * real['accuracy']:.1f}% of the real images, "
             f"{100 * results['visible_only']['accuracy']:.1f}% with the hole left black).")
    return {"holds": bool(holds), "verdict": text}


def measure_dataset(dataset: str, vae: Checkpoint, gan: Checkpoint, classifier: Checkpoint, data: ImageData,
                    images: int = 200, steps: int = DEFAULT_STEPS, seed: int = 0,
                    log: Callable[[str], Any] = print, gan_tolerance: float | None = GAN_TOLERANCE) -> dict[str, Any]:
    """The benchmark of one dataset as the JSON-ready dict described in this module's docstring."""
    cfg = vae.model.config
    g = torch.Generator().manual_seed(int(seed))
    chosen = torch.randperm(len(data), generator=g)[:images]
    x, labels = data.images[chosen].float(), data.labels[chosen].long()
    hidden = bottom_half(cfg.image_size, cfg.image_size)
    results: dict[str, dict[str, Any]] = {}
    for key, fill, ckpt in (("vae", fill_vae, vae), ("gan", fill_gan, gan)):
        start = time.perf_counter()
        last = [start]

        def progress(step: int, total: int, key: str = key) -> None:
            if time.perf_counter() - last[0] > 20 or step == total:
                last[0] = time.perf_counter()
                log(f"  {dataset} {key}: step {step}/{total}, {last[0] - start:.0f} s")

        tolerance = TOLERANCE if key == "vae" else gan_tolerance
        _, decoded = fill(ckpt.model, x, hidden, steps=steps, seed=seed, progress=progress, tolerance=tolerance)
        seconds = time.perf_counter() - start
        results[key] = _entry(paste(decoded, x, hidden), x, labels, hidden, classifier.model, seconds)
    results["real"] = _entry(x, x, labels, hidden, classifier.model)
    results["visible_only"] = _entry(paste(torch.zeros_like(x), x, hidden), x, labels, hidden, classifier.model)
    return {"version": SCHEMA_VERSION, "dataset": dataset, "mask": "bottom half", "images": int(len(x)),
            "fills_per_image": 1, "steps": int(steps), "seed": int(seed), "gan_tolerance": gan_tolerance,
            "models": {"vae": vae.name, "gan": gan.name, "classifier": classifier.name},
            "results": results, "claim": verdict(results)}


def class_requests(vae: Checkpoint, gan: Checkpoint, classifier: Checkpoint, data: ImageData, requests: int = 32,
                   fills: int = 4, steps: int = DEFAULT_STEPS, seed: int = 0,
                   gan_tolerances: tuple[float | None, ...] = (GAN_TOLERANCE,),
                   log: Callable[[str], Any] = print) -> dict[str, Any]:
    """A class's inpainting requests, as the tab sends them: `requests` test images (a seeded sample),
    the bottom half hidden, `fills` fills per model, fill seed = the request's number. Per model
    (and per GAN plateau tolerance): the searches' CPU seconds per request (time.process_time, every
    thread of this process; load-independent, unlike wall time) run one after another, and all
    submitted at once from one thread each (genlab.inpainting.FillBatcher, as the app runs them);
    whether every request got the same bits both ways; and the fills' quality over all requests."""
    import threading

    cfg = vae.model.config
    g = torch.Generator().manual_seed(int(seed))
    chosen = torch.randperm(len(data), generator=g)[:requests]
    x, labels = data.images[chosen].float(), data.labels[chosen].long()
    hidden = bottom_half(cfg.image_size, cfg.image_size)
    runs = [("vae", vae, TOLERANCE)] + [("gan", gan, t) for t in gan_tolerances]
    out: dict[str, Any] = {"requests": int(requests), "fills": int(fills), "steps": int(steps), "runs": []}
    for kind, ckpt, tolerance in runs:
        def job(i: int):
            return _job(ckpt.model, kind, x[i][None].expand(fills, -1, -1, -1).contiguous(), hidden, steps, i,
                        None, tolerance)

        run_fills(ckpt.model, [job(0)])  # warm: the GAN's start bank, first-call costs
        cpu, wall = time.process_time(), time.perf_counter()
        alone = [run_fills(ckpt.model, [job(i)])[0] for i in range(requests)]
        alone_cpu, alone_wall = time.process_time() - cpu, time.perf_counter() - wall
        answers: list[Any] = [None] * requests

        def ask(i: int) -> None:
            answers[i] = wait_for(batcher(ckpt.model).submit(job(i)))

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(requests)]
        cpu, wall = time.process_time(), time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        together_cpu, together_wall = time.process_time() - cpu, time.perf_counter() - wall
        same = all(torch.equal(a.decoded, b.decoded) and torch.equal(a.latents, b.latents)
                   for a, b in zip(alone, answers))
        images = x.repeat_interleave(fills, 0)
        completed = paste(torch.cat([a.decoded for a in alone]), images, hidden)
        entry = _entry(completed, images, labels.repeat_interleave(fills), hidden, classifier.model)
        steps_taken = [a.steps_run for a in alone]  # where each search stopped: its plateau, or the budget
        entry.update(kind=kind, model=ckpt.name, tolerance=tolerance, same_answers=bool(same),
                     alone_cpu_per_request=alone_cpu / requests, alone_wall_s=alone_wall,
                     together_cpu_per_request=together_cpu / requests, together_wall_s=together_wall,
                     mean_steps=sum(steps_taken) / len(steps_taken))
        out["runs"].append(entry)
        log(f"  {ckpt.name} tolerance {tolerance}: CPU per request {entry['alone_cpu_per_request']:.3f} s alone, "
            f"{entry['together_cpu_per_request']:.3f} s together ({requests} at once, {together_wall:.1f} s wall); "
            f"same answers: {same}; mean steps {entry['mean_steps']:.1f}; MSE {entry['hidden_mse']:.4f}, "
            f"sharpness {entry['sharpness']:.3f}, accuracy {100 * entry['accuracy']:.1f}%")
    return out


def class_section(results: list[tuple[str, dict[str, Any]]], command: str) -> str:
    """The BENCHMARKS.md section "inpainting-class" for the measured datasets."""
    from bench.report import run_stamp

    first = results[0][1]
    text = ("## Inpainting for a class: CPU seconds per request, alone and searched together\n\n"
            f"{run_stamp()} Command: `{command}`.\n\n"
            f"{first['requests']} requests per dataset as the tab sends them (a seeded sample of test images, the "
            f"bottom half hidden, {first['fills']} fills per model, at most {first['steps']} steps, each request its "
            "own fill seed and plateau). CPU seconds are the process's (every thread), per request, for the "
            "searches alone (the numbers, pictures and HTTP around them not included): one request after another, "
            "and all submitted at once from one thread each, as the app runs them (genlab.inpainting.FillBatcher: "
            "one search per model, each request joining it and leaving it on its own). \"Same\": every request got "
            "the same bits both ways. Quality over all the fills: hidden-region MSE and sharpness (mean ± standard "
            "error), classifier accuracy.\n\n")
    for dataset, r in results:
        text += (f"**{dataset}**\n\n| model | plateau tolerance | mean steps | CPU s per request, alone | "
                 "CPU s per request, together | same | hidden MSE | sharpness | accuracy |\n"
                 "|---|--:|--:|--:|--:|---|--:|--:|--:|\n")
        for e in r["runs"]:
            text += (f"| {e['model']} | {e['tolerance']} | {e['mean_steps']:.1f} | {e['alone_cpu_per_request']:.3f} | "
                     f"{e['together_cpu_per_request']:.3f} | {'yes' if e['same_answers'] else 'NO'} | "
                     f"{e['hidden_mse']:.4f} ± {e['hidden_mse_se']:.4f} | {e['sharpness']:.3f} ± "
                     f"{e['sharpness_se']:.3f} | {100 * e['accuracy']:.1f}% |\n")
        text += "\n"
    return text


def section(results: list[dict[str, Any]], command: str) -> str:
    """The BENCHMARKS.md section for the measured datasets."""
    from bench.report import run_stamp

    first = results[0]
    text = ("## Inpainting: VAE vs GAN, the bottom half hidden\n\n"
            f"{run_stamp()} Command: `{command}`.\n\n"
            f"{first['images']} test images per dataset (a seeded sample, seed {first['seed']}), the bottom half "
            f"hidden, one fill per image and model ({first['steps']} Adam steps; genlab/inpainting.py): the VAE fits "
            "a Gaussian posterior to the visible pixels by their ELBO and decodes one draw from it; the GAN is "
            "inverted on the visible pixels. The visible pixels are pasted back, so only the hidden half differs. "
            "Sharpness is the variance of the Laplacian over the hidden half; error and sharpness are mean ± "
            "standard error over the images; accuracy is the dataset classifier's on the completed images. "
            "The real images and the hole left black are the anchors.\n\n")
    for r in results:
        text += (f"**{r['dataset']}** ({r['models']['vae']}, {r['models']['gan']}, {r['models']['classifier']}; "
                 f"fills took {r['results']['vae']['seconds']:.0f} s (VAE) and {r['results']['gan']['seconds']:.0f} s "
                 f"(GAN) for {r['images']} images, load average {r['load_average']:.1f} at the start)\n\n")
        text += "| " + " | ".join(INPAINTING_COLUMNS) + " |\n|---|--:|--:|--:|\n"
        text += "".join("| " + " | ".join(row) + " |\n" for row in inpainting_rows(r)) + "\n"
        text += f"The lesson's claim on {r['dataset']}: {r['claim']['verdict']}\n\n"
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    p.add_argument("--images", type=int, default=200, help="test images per dataset")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="Adam steps per fill")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoints", default=str(REPO / "checkpoints"), help="where the models are and the JSON goes")
    p.add_argument("--threads", type=int, default=1, help="torch threads (one is fastest on a shared 2-core machine)")
    p.add_argument("--gan-tolerance", type=float, default=GAN_TOLERANCE,
                   help="the GAN search's plateau tolerance (genlab.inpainting.GAN_TOLERANCE)")
    p.add_argument("--class-requests", type=int, default=0, metavar="N",
                   help="instead of the table: N requests as a class sends them, CPU seconds per request alone and "
                        "searched together (section 'inpainting-class')")
    p.add_argument("--class-gan-tolerances", type=float, nargs="+", default=[GAN_TOLERANCE],
                   help="with --class-requests: the GAN plateau tolerances to compare")
    p.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md and the JSON alone")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = Path(args.checkpoints)
    command = "nice -n 5 .venv/bin/python bench/inpainting.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.class_requests:
        return _class_main(args, root, command.strip())
    results = []
    for dataset in args.datasets:
        ckpts = {kind: load_checkpoint(root / name.format(dataset=dataset)) for kind, name in DEFAULT_MODELS.items()}
        cfg = ckpts["vae"].model.config
        data = load_dataset(dataset, "test", image_size=cfg.image_size, channels=cfg.channels)
        load = os.getloadavg()[0]
        print(f"{dataset}: {args.images} images, {args.steps} steps, load average {load:.2f}", flush=True)
        result = measure_dataset(dataset, ckpts["vae"], ckpts["gan"], ckpts["classifier"], data,
                                 images=args.images, steps=args.steps, seed=args.seed,
                                 log=lambda line: print(line, flush=True), gan_tolerance=args.gan_tolerance)
        result.update(created=dt.datetime.now().strftime("%Y-%m-%d %H:%M"), command=command.strip(),
                      load_average=load, threads=args.threads)
        results.append(result)
        print(json.dumps(result["results"], indent=1), "\n" + result["claim"]["verdict"], flush=True)
        if not args.no_write:
            atomic_write_json(inpainting_path(root, dataset), result)
            print(f"Wrote {inpainting_path(root, dataset)}")
    text = section(results, command.strip())
    print(text)
    if not args.no_write:
        from bench.report import write_section

        write_section("inpainting", text)
    return 0


def _class_main(args: argparse.Namespace, root: Path, command: str) -> int:
    results = []
    for dataset in args.datasets:
        ckpts = {kind: load_checkpoint(root / name.format(dataset=dataset)) for kind, name in DEFAULT_MODELS.items()}
        cfg = ckpts["vae"].model.config
        data = load_dataset(dataset, "test", image_size=cfg.image_size, channels=cfg.channels)
        print(f"{dataset}: {args.class_requests} requests, load average {os.getloadavg()[0]:.2f}", flush=True)
        results.append((dataset, class_requests(ckpts["vae"], ckpts["gan"], ckpts["classifier"], data,
                                                requests=args.class_requests, steps=args.steps, seed=args.seed,
                                                gan_tolerances=tuple(args.class_gan_tolerances),
                                                log=lambda line: print(line, flush=True))))
    text = class_section(results, command)
    print(text)
    if not args.no_write:
        from bench.report import write_section

        write_section("inpainting-class", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
