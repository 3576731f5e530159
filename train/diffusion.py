"""Train a diffusion model: `python train/diffusion.py --help` lists the options.

Runs as is or under `torchrun --nproc_per_node=N train/diffusion.py ...` (rank 0 writes).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install

from genlab.training import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("diffusion"))
