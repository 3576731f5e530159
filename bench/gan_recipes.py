"""GAN recipes at equal CPU time on MNIST's 8,000 training digits (issue 17).

    .venv/bin/python bench/gan_recipes.py                       # every recipe, 300 CPU-s each, then the report
    .venv/bin/python bench/gan_recipes.py --cpu-seconds 600 --only today,w32-b64-da
    .venv/bin/python bench/gan_recipes.py --report-only --checkpoint checkpoints/mnist-gan-32
    .venv/bin/python bench/gan_recipes.py --dataset fashion-mnist --report-only --checkpoint checkpoints/fashion-mnist-gan-32

Each recipe trains from scratch in this process on one thread for the same budget of *process CPU
time* (not wall time: the machine is shared, and CPU time is what a quiet machine's wall time would
be on one core), with genlab's GANTask step and the seeded batch order of `training.train`; the
plain DCGAN is bench/reference_models.DCGAN28. Every third of the budget, the generator that would
be shipped (the moving average with recalibrated BatchNorm; the DCGAN's last weights) is scored as
train/evaluate.py scores a GAN: 2,000 samples vs the 2,000 test digits in the shipped classifier's
feature space, Fréchet distance of 1,000 samples against the second half of a seeded shuffle of the
test set, precision/recall (k = 3), class KL to uniform, and the share of samples the classifier
names with confidence >= 0.9. The floor (real vs real: the two halves of the shuffled test set)
is averaged over five seeds. Results go to runs/gan-recipes/<recipe>.json; the report, with any
`--checkpoint` folders scored the same way, to BENCHMARKS.md's "gan-recipes" section. With
--dataset fashion-mnist the same is done against Fashion-MNIST's test split and classifier
(runs/gan-recipes-fashion-mnist/, section "gan-recipes-fashion-mnist").
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from bench.reference_models import DCGAN28  # noqa: E402
from bench.report import run_stamp, write_section  # noqa: E402
from genlab import metrics  # noqa: E402
from genlab.checkpoints import DEFAULT_CHECKPOINT_DIR, load_checkpoint, read_config, read_history  # noqa: E402
from genlab.data import ImageData, load_dataset  # noqa: E402
from genlab.models.gan import GAN  # noqa: E402
from genlab.training import Dist, GANTask, build_parser, configs_from_args, seeded  # noqa: E402

RESULTS = REPO / "runs" / "gan-recipes"
DA = "color,translation,cutout"


def small(diffaugment: str) -> list[str]:
    """train/gan.py arguments of the small networks (width 32, batch 64, lr 5e-4) with this DiffAugment policy."""
    return ["--width", "32", "--batch-size", "64", "--diffaugment", diffaugment, "--lr", "5e-4"]


SMALL = small(DA)
CLASSES = [*SMALL, "--classes-from-latent"]
# The shipped recipe leaves DiffAugment's colour out (genlab/augment.py says why).
NO_COLOUR = [*small("translation,cutout"), "--classes-from-latent", "--class-head", "auxiliary", "--mode-seeking", "0.1"]
PROJECTION = [*small("translation,cutout"), "--classes-from-latent", "--class-head", "projection", "--mode-seeking", "0.1"]
# name -> (what it adds, train/gan.py arguments); "dcgan" is the reference DCGAN, not genlab's GAN.
RECIPES: dict[str, tuple[str, list[str]]] = {
    "dcgan": ("plain DCGAN (pytorch/examples layout at 28×28, batch 128, last weights)", []),
    "today": ("today's recipe: spectral norm, 3×3 refining convs, width 64, batch 128, moving average", []),
    "today-da": ("today's recipe + DiffAugment (color, translation, cutout)", ["--diffaugment", DA]),
    "w32-b64": ("today's recipe at width 32, batch 64", ["--width", "32", "--batch-size", "64"]),
    "w32-b64-da": ("width 32, batch 64 + DiffAugment", ["--width", "32", "--batch-size", "64", "--diffaugment", DA]),
    "w32-b64-da-r1": ("width 32, batch 64 + DiffAugment + lazy R1 (γ = 1, every 4 D steps)",
                      ["--width", "32", "--batch-size", "64", "--diffaugment", DA, "--r1", "1"]),
    "w32-b64-da-cond": ("width 32, batch 64 + DiffAugment, class-conditional G + projection D",
                        ["--width", "32", "--batch-size", "64", "--diffaugment", DA, "--conditional"]),
    "small-lr5e-4": ("width 32, batch 64 + DiffAugment, learning rate 5e-4", SMALL),
    "classes-projection": ("... + the class read from z (argmax of z[:10]), projection D", CLASSES),
    "classes-auxiliary": ("... + the class read from z, auxiliary class head (weight 0.1) instead of the projection",
                          [*CLASSES, "--class-head", "auxiliary", "--class-weight", "0.1"]),
    "mode-seeking": ("... + the mode-seeking term (weight 0.1): the recipe shipped two rounds ago",
                     [*CLASSES, "--class-head", "auxiliary", "--class-weight", "0.1", "--mode-seeking", "0.1"]),
    "no-colour": ("... with DiffAugment's translation and cutout but not its colour",
                  [*NO_COLOUR, "--class-weight", "0.1"]),
    "auxiliary-0.05": ("... at class weight 0.05 (mnist-gan-32 of the previous round)", [*NO_COLOUR, "--class-weight", "0.05"]),
    "projection": ("no colour, the class read from z, the projection discriminator instead of the auxiliary "
                   "class head, mode-seeking 0.1: the shipped recipe", PROJECTION),
}
FLOOR_SEEDS = (0, 1, 2, 3, 4)


class Judge:
    """Scores generated digits against the MNIST test split as train/evaluate.py does."""

    def __init__(self, classifier: torch.nn.Module, test: ImageData, num_samples: int = 2000) -> None:
        self.clf, self.test = classifier, test
        self.n = min(num_samples, len(test))
        self.half = self.n // 2
        perm = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:self.n]
        self.real_feats, real_logits = self.features(test.images[perm])
        self.real_b = self.real_feats[self.half:2 * self.half]
        self.real_confident = metrics.confident_share(real_logits)
        self.real_kl = metrics.kl_to_uniform(metrics.class_histogram(real_logits, classifier.config.num_classes))
        # The two halves of differently shuffled test sets, as train/evaluate.py takes its floor.
        floor = metrics.real_floor(classifier, test, self.n, FLOOR_SEEDS,
                                   first=(self.real_feats[:self.half], self.real_b))
        self.floors = [{"fd": fd, "precision": p, "recall": r}
                       for fd, p, r in zip(floor["frechet_distance"], floor["precision"], floor["recall"])]
        self.floor = sum(f["fd"] for f in self.floors) / len(self.floors)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = torch.cat([self.clf.features(x) for x in images.split(500)])
        return feats, self.clf.head(feats)

    def score(self, images: torch.Tensor) -> dict[str, float]:
        """images (N >= 2 * half, C, H, W) in [0, 1] -> the numbers of one table row."""
        feats, logits = self.features(images)
        fake = feats[:self.half]
        precision, recall = metrics.precision_recall(self.real_b, fake)
        fd = metrics.frechet_distance(fake, self.real_b)
        hist = metrics.class_histogram(logits, self.clf.config.num_classes)
        return {"fd": fd, "fd_over_floor": fd / self.floor, "precision": precision, "recall": recall,
                "kl": metrics.kl_to_uniform(hist), "confident": metrics.confident_share(logits)}


@torch.no_grad()
def sample_genlab(generator: torch.nn.Module, n: int, seed: int = 0) -> torch.Tensor:
    """n images from a genlab generator in eval mode (uniform labels when it is conditional)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn((n, generator.config.latent_dim), generator=g)
    k = generator.config.num_classes if generator.config.needs_labels else 0
    labels = torch.randperm(n, generator=g) % k if k else None
    generator.eval()
    return torch.cat([generator(z[i:i + 500], None if labels is None else labels[i:i + 500])
                      for i in range(0, n, 500)])


def run_recipe(name: str, cpu_seconds: float, judge: Judge, train: ImageData, log=print) -> dict[str, Any]:
    """Train recipe `name` for `cpu_seconds` of process CPU time; score it at each third."""
    what, args = RECIPES[name]
    marks = [cpu_seconds * k / 3 for k in (1, 2, 3)]
    if name == "dcgan":
        model, batch_size = DCGAN28(seed=0, lr=2e-4), 128
        z_eval = torch.randn((judge.n, model.config.latent_dim), generator=torch.Generator().manual_seed(0))

        def step(x, y, g):
            model.step(x, g)

        def shipped():
            return model.sample(z_eval)
    else:
        mc, tc = configs_from_args("gan", build_parser("gan").parse_args(
            ["--latent-dim", "32", "--out", "unused", "--no-progress", *args]))
        torch.manual_seed(tc.seed)
        gan = GAN(mc)
        task = GANTask(gan, tc, torch.device("cpu"), Dist())
        task.optimizers()
        task.wrap()
        gan.train()
        batch_size = tc.batch_size

        def step(x, y, g):
            task.step(x, y, g)

        def shipped():
            return sample_genlab(task._shipped_generator(), judge.n)

    points, steps, epoch, cpu = [], 0, 0, 0.0
    steps_per_epoch = math.ceil(len(train) / batch_size)
    wall0 = time.perf_counter()
    while marks:
        g = seeded(0, epoch)
        torch.manual_seed(epoch * 10)
        order = torch.randperm(len(train), generator=seeded(0, epoch, stream=1))
        for s in range(steps_per_epoch):
            idx = order[s * batch_size:(s + 1) * batch_size]
            t0 = time.process_time()
            step(train.images[idx], train.labels[idx], g)
            cpu += time.process_time() - t0
            steps += 1
            if marks and cpu >= marks[0]:
                marks.pop(0)
                scores = judge.score(shipped())
                if name != "dcgan":
                    gan.train()
                points.append({"cpu_seconds": round(cpu, 1), "steps": steps, "epochs": round(steps / steps_per_epoch, 2),
                               **scores})
                log(f"  {name}: {cpu:.0f} CPU-s, {steps} steps, FD {scores['fd']:.2f} "
                    f"({scores['fd_over_floor']:.1f}× floor), P {scores['precision']:.2f} R {scores['recall']:.2f}")
                if not marks:
                    break
        epoch += 1
    return {"recipe": name, "what": what, "args": args, "cpu_seconds": cpu_seconds,
            "wall_seconds": round(time.perf_counter() - wall0, 1), "points": points}


def score_checkpoint(folder: Path, judge: Judge) -> dict[str, Any]:
    """A trained checkpoint folder scored like the recipes (its shipped generator)."""
    ckpt = load_checkpoint(folder)
    history = read_history(folder)
    cfg = read_config(folder)
    return {"name": folder.name, "path": str(folder), "epochs": len(history),
            "train_seconds": round(sum(h.get("seconds", 0.0) for h in history), 1),
            "args": cfg.get("training", {}), **judge.score(sample_genlab(ckpt.model.generator, judge.n))}


def watch(folder: Path, judge: Judge, every: int, stop_at: int, results: Path = RESULTS, log=print) -> None:
    """Score a training run's checkpoint each `every` epochs until it has `stop_at` (appends to
    <results>/watch-<folder name>.json): the run's curve of FD over epochs and wall time."""
    out = results / f"watch-{folder.name}.json"
    points = json.loads(out.read_text()) if out.is_file() else []
    done = {p["epochs"] for p in points}
    while True:
        try:
            epochs = len(read_history(folder))
        except Exception:  # the run has not written its first epoch, or is writing it now
            epochs = 0
        if epochs and epochs % every == 0 and epochs not in done:
            time.sleep(5)  # let the epoch's files land
            c = score_checkpoint(folder, judge)
            c.pop("args", None)
            points.append(c)
            done.add(epochs)
            out.write_text(json.dumps(points, indent=1))
            log(f"{folder.name} epoch {epochs}: FD {c['fd']:.2f} ({c['fd_over_floor']:.1f}× floor), "
                f"P {c['precision']:.2f} R {c['recall']:.2f}, KL {c['kl']:.3f}, confident {c['confident']:.3f}")
        if epochs >= stop_at:
            return
        time.sleep(30)


def report(judge: Judge, results: list[dict[str, Any]], checkpoints: list[dict[str, Any]], command: str,
           note: str = "", dataset: str = "mnist", results_dir: Path = RESULTS) -> str:
    rows = []
    for r in results:
        for p in r["points"]:
            rows.append(f"| {r['recipe']} | {p['cpu_seconds']:.0f} | {p['steps']} | {p['epochs']:.1f} | {p['fd']:.2f} | "
                        f"{p['fd'] / judge.floor:.1f} | {p['precision']:.2f} | {p['recall']:.2f} | {p['kl']:.3f} | "
                        f"{100 * p['confident']:.0f}% |")
    recipes = "\n".join(f"- **{r['recipe']}**: {r['what']}" + (f" (`{shlex.join(r['args'])}`)" if r["args"] else "")
                        for r in results)
    ck_rows = "\n".join(
        f"| {c['name']} | {c['epochs']} | {c['train_seconds'] / 60:.0f} | {c['fd']:.2f} | {c['fd_over_floor']:.1f} | "
        f"{c['precision']:.2f} | {c['recall']:.2f} | {c['kl']:.3f} | {100 * c['confident']:.0f}% |" for c in checkpoints)
    floors = ", ".join(f"{f['fd']:.2f}" for f in judge.floors)
    fp = sum(f["precision"] for f in judge.floors) / len(judge.floors)
    fr = sum(f["recall"] for f in judge.floors) / len(judge.floors)
    ck_table = f"""
Trained checkpoints, scored the same way (minutes: the sum of the epochs' wall time in history.json,
on a machine shared with other jobs unless the README says otherwise):

| Checkpoint | Epochs | Train min | FD | FD / floor | Precision | Recall | KL to uniform | Confident ≥ 0.9 |
|---|---|---|---|---|---|---|---|---|
{ck_rows}
""" if checkpoints else ""
    curves = []
    for path in sorted(results_dir.glob("watch-*.json")):
        for c in json.loads(path.read_text()):
            curves.append(f"| {c['name']} | {c['epochs']} | {c['train_seconds'] / 60:.0f} | {c['fd']:.2f} | "
                          f"{c['fd'] / judge.floor:.1f} | {c['precision']:.2f} | {c['recall']:.2f} | {c['kl']:.3f} | "
                          f"{100 * c['confident']:.0f}% |")
    curve_table = f"""
Longer runs of train/gan.py, scored every few epochs while they trained (minutes: wall time summed
from history.json, on the shared machine):

| Run | Epochs | Wall min | FD | FD / floor | Precision | Recall | KL to uniform | Confident ≥ 0.9 |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(curves)}
""" if curves else ""
    title = ("GAN recipes at equal CPU time (MNIST, 8,000 training digits)" if dataset == "mnist" else
             f"GAN recipes on {dataset} ({len(judge.test):,} test images)")
    clf_name = f"{dataset}-classifier"
    recipe_table = f"""
{recipes}

| Recipe | CPU s | Steps | Epochs | FD | FD / floor | Precision | Recall | KL to uniform | Confident ≥ 0.9 |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
""" if rows else ""
    return f"""## {title}

{run_stamp()} Command: `{command}`.

Each recipe trains from scratch on one thread for the same process CPU time (the machine was shared
with other jobs, so CPU time rather than wall time is held equal), with the seeded batch order of
`genlab.training.train`, and is scored at each third of the budget like `train/evaluate.py` scores
a GAN: 2,000 samples of the generator that would be shipped (moving average with recalibrated
BatchNorm; the DCGAN: its last weights), features of the shipped {clf_name}, Fréchet distance
(FD) of 1,000 samples vs 1,000 test images, precision/recall (k = 3), class KL to uniform, and the
share of samples the classifier names with confidence ≥ 0.9. Training runs and checkpoints are
scored the same way.

**Floor** (test images vs test images, {len(judge.floors)} seeds): FD {judge.floor:.2f} ({floors}),
precision {fp:.2f}, recall {fr:.2f}; real test images named with confidence ≥ 0.9:
{100 * judge.real_confident:.0f}%, class KL to uniform {judge.real_kl:.3f}.
{recipe_table}{curve_table}{ck_table}
{note}"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    p.add_argument("--cpu-seconds", type=float, default=300.0, help="process CPU time per recipe")
    p.add_argument("--only", default=None, help=f"comma-separated recipes (default: all of {', '.join(RECIPES)})")
    p.add_argument("--report-only", action="store_true", help="train nothing; report the saved results")
    p.add_argument("--checkpoint", action="append", default=[], help="a trained GAN folder to score too (repeatable)")
    p.add_argument("--no-write", action="store_true", help="print the section instead of writing BENCHMARKS.md")
    p.add_argument("--watch", default=None, metavar="FOLDER",
                   help="score a training run's checkpoint every --every epochs until --stop-at epochs, then exit")
    p.add_argument("--note", default="", help="a Markdown file whose text ends the section (the reading of the numbers)")
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--stop-at", type=int, default=60)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    names = args.only.split(",") if args.only else list(RECIPES)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        print(f"error: unknown recipe {unknown[0]!r}; choose from {', '.join(RECIPES)}.", file=sys.stderr)
        return 1
    clf = load_checkpoint(DEFAULT_CHECKPOINT_DIR / f"{args.dataset}-classifier").model
    judge = Judge(clf, load_dataset(args.dataset, "test"))
    print(f"floor FD {judge.floor:.2f} over seeds {FLOOR_SEEDS}; real confident {judge.real_confident:.3f}")
    results_dir = RESULTS if args.dataset == "mnist" else RESULTS.with_name(f"gan-recipes-{args.dataset}")
    results_dir.mkdir(parents=True, exist_ok=True)
    if args.watch:
        watch(Path(args.watch), judge, args.every, args.stop_at, results_dir)
        return 0
    if not args.report_only:
        train = load_dataset(args.dataset, "train")
        for name in names:
            result = run_recipe(name, args.cpu_seconds, judge, train)
            (results_dir / f"{name}.json").write_text(json.dumps(result, indent=1))
    results = [json.loads((results_dir / f"{n}.json").read_text()) for n in RECIPES
               if (results_dir / f"{n}.json").is_file()]
    checkpoints = [score_checkpoint(Path(c), judge) for c in args.checkpoint]
    for c in checkpoints:
        print(f"{c['name']}: FD {c['fd']:.2f} ({c['fd_over_floor']:.1f}× floor), P {c['precision']:.2f} "
              f"R {c['recall']:.2f}, KL {c['kl']:.3f}, confident {c['confident']:.3f}")
    command = "python bench/gan_recipes.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    note = Path(args.note).read_text() if args.note else ""
    section = report(judge, results, checkpoints, command.strip(), note, args.dataset, results_dir)
    if args.no_write:
        print(section)
    else:
        write_section("gan-recipes" if args.dataset == "mnist" else f"gan-recipes-{args.dataset}", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
