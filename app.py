"""Genlab: explore the latent spaces of a VAE and a GAN in the browser.

    python app.py                      # http://127.0.0.1:7860
    python app.py --host 0.0.0.0 --port 8080 --checkpoints my_checkpoints
    python app.py --hub user/my-vae --hub user/my-gan   # add checkpoints from the Hugging Face Hub
"""

from __future__ import annotations

import argparse
import os

import torch

from genlab.checkpoints import DEFAULT_CHECKPOINT_DIR
from genlab.ui.app import build_app, launch_kwargs, stop_on_sigterm
from genlab.ui.shell import configure_queue
from genlab.ui.uploads import MAX_FILE_SIZE
from genlab.store import ModelStore


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                   help="address to bind (default 127.0.0.1; 0.0.0.0 to serve your network)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    p.add_argument("--share", action="store_true", help="ask Gradio for a public share link")
    p.add_argument("--checkpoints", default=str(DEFAULT_CHECKPOINT_DIR), help="folder of checkpoint folders")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=1,
                   help="PyTorch threads per request (default 1: requests run side by side, and small "
                        "decodes are fastest on one thread)")
    p.add_argument("--hub", action="append", default=[], metavar="REPO_ID",
                   help="also load the checkpoint in this Hugging Face Hub model repo (repeatable)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda was asked for, but PyTorch sees no CUDA GPU here. Use --device cpu.")
    torch.set_num_threads(max(1, args.threads))
    store = ModelStore.load(args.checkpoints, args.device, hub=args.hub)
    demo = build_app(store)
    configure_queue(demo)
    stop_on_sigterm(demo)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                max_file_size=MAX_FILE_SIZE, **launch_kwargs())


if __name__ == "__main__":
    main()
