"""Compute each checkpoint's artefacts and store them beside its weights, for a fast cold start.

    python train/precompute.py                       # every checkpoint in checkpoints/
    python train/precompute.py mnist-gan-32 mnist-vae-16 --checkpoints my_checkpoints

Writes <checkpoint>/artefacts.safetensors (see genlab.service): GANSpace directions of a GAN, the
attribute bank of a VAE or a GAN (latents with class labels, classifier probabilities and
pixel-attribute scores), and a VAE's codes of the test images (the latent map). Its metadata holds
the SHA-256 of the weights it was computed from: the app ignores the file once the weights change
(after training more, run this again). Needs the test split of the checkpoint's dataset (shipped in
data/ for MNIST and Fashion-MNIST); a checkpoint without one gets its artefacts that need no data.

For a classifier it writes the nearest-training-image index (genlab.nearest): the training images'
features in shards nearest-0000i-of-0000N.safetensors, and how far the test images are from their
nearest training image. It needs both splits of the classifier's dataset.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from tqdm.auto import tqdm  # noqa: E402

from genlab import nearest  # noqa: E402
from genlab.checkpoints import DEFAULT_CHECKPOINT_DIR  # noqa: E402
from genlab.data import DataError  # noqa: E402
from genlab.service import ServiceError  # noqa: E402
from genlab.store import ModelStore  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="checkpoint names (default: every VAE, GAN and classifier)")
    p.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINT_DIR), help="folder of checkpoint folders")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    store = ModelStore.load(args.checkpoints)
    for problem in store.problems:
        print(f"warning: {problem}", file=sys.stderr)
    names = args.names or store.names(("vae", "gan", "classifier"))
    unknown = [n for n in names if n not in store.services]
    if unknown:
        print(f"error: no checkpoint called {', '.join(unknown)} in {args.checkpoints}", file=sys.stderr)
        return 1
    failed = 0
    for name in tqdm(names, desc="artefacts", unit="model"):
        service = store.service(name)
        start = time.perf_counter()
        try:
            if service.kind == "classifier":
                try:
                    paths = nearest.precompute(service.checkpoint)
                except DataError as e:
                    if args.names:  # asked for by name: a failure
                        raise
                    # e.g. a classifier of a folder of pictures: its app works without the index
                    tqdm.write(f"{name}: no nearest-image index, its training split is not here ({e})")
                    continue
                size = sum(p.stat().st_size for p in paths) / 1024
                tqdm.write(f"{name}: wrote {len(paths)} nearest-image shard(s) ({size:.0f} KiB, "
                           f"{time.perf_counter() - start:.1f} s)")
                continue
            path = service.write_artefacts()
        except (ServiceError, DataError) as e:
            tqdm.write(f"{name}: skipped ({e})")
            failed += 1
            continue
        tqdm.write(f"{name}: wrote {path} ({path.stat().st_size / 1024:.0f} KiB, {time.perf_counter() - start:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
