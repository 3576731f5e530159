"""Nearest training images (genlab.nearest): how fast a query is, what the index costs on disk, and
whether the shipped generators copy their training images.

    python bench/nearest.py                 # every classifier with an index, and their datasets' models
    python bench/nearest.py --no-write      # print only

For each dataset: the index's size (files beside the classifier) and the training images' IDX file;
reading the index and the training images once (the first query pays it); then one image's query,
split into the classifier's features and the search (one matmul over the N x L features and a
top-k), and a batch of 32, as p50 / p95 over repeated runs on one torch thread (what an app event
gets). Then, per VAE and GAN of the dataset, 256 samples (seed 0): the median distance to the
nearest training image against the test images' median, and the share of samples closer than the
test images' 5th percentile ("near copies": 5% of real unseen images are that close).
Writes the section "nearest" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

import torch  # noqa: E402

from bench.report import run_stamp, write_section  # noqa: E402
from genlab import nearest  # noqa: E402
from genlab.checkpoints import DEFAULT_CHECKPOINT_DIR  # noqa: E402
from genlab.data import load_dataset  # noqa: E402
from genlab.store import ModelStore  # noqa: E402

SAMPLES = 256


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINT_DIR))
    p.add_argument("--repeats", type=int, default=200, help="timed queries per measurement")
    p.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    stamp = run_stamp()
    store = ModelStore.load(args.checkpoints)
    speed_rows, copy_rows = [], []
    for name in sorted(store.names("classifier")):
        ckpt = store.get(name)
        paths = nearest.NearestIndex.shard_paths(ckpt.path)
        if not paths:
            print(f"{name}: no index (train/precompute.py {name})")
            continue
        start = time.perf_counter()
        index = nearest.NearestIndex.read(ckpt)
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        index.training_images(torch.tensor([0]))
        images_s = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in paths) / 2**20
        source = nearest.training_images_file(index.dataset)
        source_mb = source.stat().st_size / 2**20 if source else float("nan")
        test = load_dataset(index.dataset, "test")
        one = test.images[:1]
        batch = test.images[:32]
        feats_one = index.query_features(one)
        feats_batch = index.query_features(batch)
        for _ in range(5):  # warm up
            index.nearest(one)
        # Interleaved, so that each part sees the same moments of a shared machine's load.
        runs: dict[str, list[float]] = {"features": [], "search": [], "one": []}
        for _ in range(args.repeats):
            runs["features"] += timed(lambda: index.query_features(one), 1)
            runs["search"] += timed(lambda: index.search_features(feats_one, 5), 1)
            runs["one"] += timed(lambda: index.nearest(one, 5), 1)
        batch_runs: dict[str, list[float]] = {"batch": [], "batch_search": []}
        for _ in range(max(10, args.repeats // 10)):
            batch_runs["batch"] += timed(lambda: index.nearest(batch, 5), 1)
            batch_runs["batch_search"] += timed(lambda: index.search_features(feats_batch, 5), 1)
        t_feat, t_search, t_total = (percentiles(runs[k]) for k in ("features", "search", "one"))
        t_batch, t_batch_search = (percentiles(batch_runs[k]) for k in ("batch", "batch_search"))
        ref = index.reference
        print(f"{name}: {len(index)} x {index.features.shape[1]} features, {len(paths)} shard(s) {size_mb:.1f} MB; "
              f"read {read_s:.2f} s, training images {images_s:.2f} s; one image p50 {t_total[0]:.1f} ms "
              f"(features {t_feat[0]:.1f}, search {t_search[0]:.1f}); 32 images p50 {t_batch[0]:.1f} ms; "
              f"test median {ref.median:.3f}, p5 {ref.p5:.3f}")
        speed_rows.append(
            f"| {index.dataset} | {len(index):,} × {index.features.shape[1]} (of {feats_one.shape[1]}) | "
            f"{len(paths)} · {size_mb:.1f} MB | {source_mb:.1f} MB | {read_s:.2f} s + {images_s:.2f} s | "
            f"{t_feat[0]:.1f} / {t_feat[1]:.1f} | {t_search[0]:.1f} / {t_search[1]:.1f} | "
            f"{t_total[0]:.1f} / {t_total[1]:.1f} | {t_batch[0]:.1f} / {t_batch[1]:.1f} "
            f"(search {t_batch_search[0]:.1f}) |")
        for model in sorted(store.names(("vae", "gan"), dataset=index.dataset)):
            service = store.service(model)
            samples = service.sample(SAMPLES, 0)
            found = index.nearest(samples, k=1, with_images=False, within=nearest.training_rows(service.info, index))
            d = found.distances[:, 0]
            near = float((d <= ref.p5).float().mean())
            print(f"  {model}: median nearest distance {float(d.median()):.3f} (test {ref.median:.3f}), "
                  f"{near:.1%} closer than the test images' 5th percentile")
            copy_rows.append(f"| {model} | {float(d.median()):.2f} | {ref.median:.2f} | "
                             f"{float(d.min()):.2f} | {near:.1%} |")
    if not speed_rows:
        print("no index to measure: run train/precompute.py on a classifier first")
        return 1
    markdown = f"""## Nearest training images

`python bench/nearest.py`. {stamp} One torch thread (as an app event gets); the machine was shared
with other agents' jobs, so these are upper bounds. A query is the classifier's features of the
image, then one matmul over the training images' float16 features (kept as float32 in memory, in
the dimensions that are non-zero on some training image) and a top-5. Times in ms, p50 / p95 over
{args.repeats} runs (the batch: {max(10, args.repeats // 10)}), the parts measured in turn within each
run. "First use" is reading the index, then the training images' IDX file (once per process).

| dataset | training features | index beside the classifier | training images (IDX, gzip) | first use | features | search | one image | 32 images |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(speed_rows)}

Did the shipped generators copy? {SAMPLES} samples of each (seed 0, temperature 1), each sample's distance to
its nearest training image, against real test images' distance to theirs; "near copies" are samples
closer than the test images' 5th percentile (by construction 5% of real unseen images are). A model
trained on the first N training images only (`--limit`) is searched among those.

| model | samples: median distance | test images: median | closest sample | near copies |
| --- | --- | --- | --- | --- |
{chr(10).join(copy_rows)}
"""
    if not args.no_write:
        write_section("nearest", markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
