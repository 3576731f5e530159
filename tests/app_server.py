"""Helpers for tests that talk to a running Genlab app over HTTP (not a test module itself).

    root = make_tiny_checkpoints(tmp_path)        # untrained tiny VAE, GAN, classifier on "mnist"
    add_tiny_diffusion(root)                      # and a tiny diffusion model and latent prior beside them
    with running_app(root) as base:               # http://127.0.0.1:<free port>
        event, data = call(base, "interpolate_ui", [...])

`call` uses Gradio's plain HTTP API: POST /gradio_api/call/<api_name>, then read the SSE stream
of GET /gradio_api/call/<api_name>/<event_id> up to its `complete` or `error` event.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import torch

from bench.http_api import API, StreamEnded, call_api, upload_file
from genlab.checkpoints import save_checkpoint
from genlab.data import CLASS_NAMES
from genlab.models import GAN, VAE, Classifier, ClassifierConfig, GANConfig, VAEConfig

VAE_NAME, GAN_NAME = "mnist-vae-16", "mnist-gan-16"
RANDOM, DRAW, UPLOAD, TEST = "Random sample", "Draw", "Upload", "Test image"  # genlab.ui.inputs.SOURCES


def make_tiny_checkpoints(root: Path, dataset: str = "mnist") -> Path:
    """Save an untrained tiny VAE and GAN (16-d latents) and a 10-class classifier for `dataset` under `root`.

    16 dimensions leave room for conditional edits (10 class directions are projected out).
    """
    torch.manual_seed(0)
    names = CLASS_NAMES.get(dataset, [str(k) for k in range(10)])
    models = {
        f"{dataset}-vae-16": ("vae", VAE(VAEConfig(latent_dim=16, base_width=8, hidden_dim=32))),
        f"{dataset}-gan-16": ("gan", GAN(GANConfig(latent_dim=16, generator_width=8, discriminator_width=8))),
        f"{dataset}-classifier": ("classifier", Classifier(ClassifierConfig(num_classes=len(names), width=8,
                                                                          feature_dim=16))),
    }
    for name, (kind, model) in models.items():
        save_checkpoint(model.eval(), root / name, kind, dataset=dataset, class_names=names)
    return root


DIFFUSION_NAME, PRIOR_NAME = "mnist-diffusion-tiny", "mnist-vae-16-latent-diffusion-tiny"


def add_tiny_diffusion(root: Path, dataset: str = "mnist") -> Path:
    """Beside `make_tiny_checkpoints`' models: a tiny pixel diffusion U-Net (3 sampling steps) and a
    latent diffusion prior over the 16-d VAE, both untrained but with a velocity that is not zero
    (an untrained U-Net's output layer is zero, which would make every step count give the noise)."""
    from genlab.models import DiffusionConfig, DiffusionUNet, LatentDiffusion, LatentDiffusionConfig

    torch.manual_seed(1)
    unet = DiffusionUNet(DiffusionConfig(base_width=8, channel_mults=(1, 2), time_dim=16, sample_steps=3)).eval()
    prior = LatentDiffusion(LatentDiffusionConfig(vae=f"{dataset}-vae-16", latent_dim=16, width=16, depth=1,
                                                  time_dim=8, sample_steps=3)).eval()
    names = CLASS_NAMES.get(dataset, [str(k) for k in range(10)])
    for name, kind, model in ((DIFFUSION_NAME.replace("mnist", dataset, 1), "diffusion", unet),
                              (PRIOR_NAME.replace("mnist", dataset, 1), "latent-diffusion", prior)):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.05 * torch.randn_like(p))
        save_checkpoint(model, root / name, kind, dataset=dataset, class_names=names)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(root: Path) -> Iterator[str]:
    """Build and launch the app on the checkpoints in `root`; yields its base URL; closes it after."""
    from genlab.ui.app import build_app, launch_kwargs
    from genlab.ui.uploads import MAX_FILE_SIZE
    from genlab.ui.shell import configure_queue
    from genlab.store import ModelStore

    demo = build_app(ModelStore.load(root))
    configure_queue(demo)
    port = free_port()
    # _frontend=False skips Gradio's "is localhost reachable" probe (HEAD / with a 3 s timeout), which
    # fails spuriously on a busy machine; the page and the API are served all the same.
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                max_file_size=MAX_FILE_SIZE, _frontend=False, **launch_kwargs())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        demo.close()


_shared: dict[str, str] = {}  # one app per test session, whichever test module asks first


@pytest.fixture(scope="session")
def genlab_app(request, tmp_path_factory) -> str:
    """The base URL of the app on tiny MNIST checkpoints, started once per session, closed at its end.

    Modules import this fixture; pytest would start one app per importing module, so the app is
    kept here and shared.
    """
    if "base" not in _shared:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # GAN inversion on a busy 2-core machine is several times faster on one thread
        stack = contextlib.ExitStack()
        stack.callback(torch.set_num_threads, threads)
        request.config.add_cleanup(stack.close)
        _shared["root"] = make_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"))
        _shared["base"] = stack.enter_context(running_app(_shared["root"]))
    return _shared["base"]


@pytest.fixture(scope="session")
def genlab_app_checkpoints(genlab_app) -> Path:
    """The checkpoints folder the shared app (`genlab_app`) serves."""
    return _shared["root"]


def call(base: str, api_name: str, data: list[Any], session_hash: str | None = None,
         timeout: float = 120.0) -> tuple[str, Any]:
    """Run one API event; returns ("complete", outputs) or ("error", message)."""
    try:
        return call_api(base, api_name, data, session_hash, timeout)
    except StreamEnded as e:
        raise AssertionError(str(e)) from None


def upload(base: str, path: Path) -> dict[str, Any]:
    """Upload a file to the app; returns the FileData dict an image/file input takes."""
    return upload_file(base, path, timeout=30)


def fetch_image(base: str, filedata: dict[str, Any]):
    """Download an output image (FileData dict) as a PIL image."""
    import io

    from PIL import Image

    url = filedata.get("url") or f"{base}{API}/file={filedata['path']}"
    r = requests.get(url, timeout=30)
    r.raise_for_status()
    return Image.open(io.BytesIO(r.content))


def picker(source=RANDOM, upload_value=None, drawing=None, index=0, seed=0) -> list:
    """The five values of one image picker (genlab.ui.inputs.ImagePicker.inputs), in the API's order."""
    return [source, upload_value, drawing, index, seed]


def expect_error(result: tuple[str, Any], *fragments: str) -> str:
    """Assert `call`'s result is an error whose message holds each fragment (any case); return the message."""
    event, message = result
    assert event == "error", f"expected an error, got {event}: {str(message)[:300]}"
    assert isinstance(message, str) and message, message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    assert "Traceback" not in message
    return message
