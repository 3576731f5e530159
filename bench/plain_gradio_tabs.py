"""The page-open anchor of bench/classroom.py: a plain nine-tab Gradio app of Genlab's shape.

Nine tabs of the usual components (a dropdown, sliders, buttons, images, galleries, markdown), each
wired to a small server function, and nothing computed when a page opens: the cost of a page open
here is Gradio's own (the page, its config, the browser's work).

    python bench/plain_gradio_tabs.py --port 7891
"""

from __future__ import annotations

import argparse

import gradio as gr
import numpy as np

TABS = ["Sample", "Latent sliders", "Interpolate", "Edit attributes", "Inpainting", "VAE vs GAN",
        "How a VAE works", "How a GAN trains", "Playground"]


def noise(seed: float, size: int = 28) -> np.ndarray:
    """A grey (size, size) picture from `seed`: the plain app's stand-in for a model."""
    rng = np.random.default_rng(int(seed or 0))
    return (rng.random((size, size)) * 255).astype(np.uint8)


def build() -> gr.Blocks:
    with gr.Blocks(title="Plain Gradio, nine tabs") as demo:
        gr.Markdown("# A plain Gradio app\nNine tabs, nothing computed on load.")
        with gr.Row():
            gr.Dropdown(["model-a", "model-b"], value="model-a", label="Model")
            seed = gr.Number(0, label="Seed", precision=0)
        for i, title in enumerate(TABS):
            with gr.Tab(title):
                gr.Markdown(f"## {title}")
                with gr.Row():
                    a = gr.Slider(-3, 3, value=0, label="a")
                    b = gr.Slider(-3, 3, value=0, label="b")
                button = gr.Button("Run", variant="primary")
                image = gr.Image(label="Result", type="numpy")
                gallery = gr.Gallery(label="More", columns=4)
                text = gr.Markdown("")
                button.click(lambda s, x, y: (noise(s + x + y), [noise(s + k) for k in range(4)], f"{x:.2f}, {y:.2f}"),
                             [seed, a, b], [image, gallery, text], api_name=f"run_{i}")
    return demo


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=7891)
    args = p.parse_args()
    demo = build()
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=args.port)


if __name__ == "__main__":
    main()
