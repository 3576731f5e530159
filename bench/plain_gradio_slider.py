"""The baseline for bench/slider_latency.py: a plain Gradio app, slider -> VAE decoder -> gr.Image.

Nothing more than the default path: every `input` event of the slider goes to the server, which
decodes and sends back a picture. One slider moves the VAE's most active latent dimension; the
others stay at the latent of seed 0.

    python bench/plain_gradio_slider.py --checkpoint checkpoints/fashion-mnist-vae-16 --port 7890
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gradio as gr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genlab.checkpoints import load_checkpoint  # noqa: E402
from genlab.latent import decode, kl_order, sample_latents  # noqa: E402
from genlab.ui.images import to_pil  # noqa: E402


def build(checkpoint: str | Path) -> gr.Blocks:
    ckpt = load_checkpoint(checkpoint)
    z0 = sample_latents(1, ckpt.model.latent_dim, seed=0)
    kl = ckpt.metrics.get("kl_per_dim")
    dim = kl_order(kl)[0] if kl else 0

    def render(value: float):
        z = z0.clone()
        z[0, dim] = float(value)
        return to_pil(decode(ckpt.model, z)[0])

    with gr.Blocks(title="Plain Gradio slider") as demo:
        slider = gr.Slider(-4, 4, value=float(z0[0, dim]), step=0.01, label=f"z{dim}", elem_id="plain-slider")
        image = gr.Image(render(float(z0[0, dim])), type="pil", label="Decoded", elem_id="plain-image")
        slider.input(render, slider, image, api_name="render")
    return demo


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/fashion-mnist-vae-16")
    p.add_argument("--port", type=int, default=7890)
    args = p.parse_args()
    demo = build(args.checkpoint)
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=args.port)


if __name__ == "__main__":
    main()
