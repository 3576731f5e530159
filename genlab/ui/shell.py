"""What every tab shares: the model picker, the seed, input checks that become clear errors."""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import gradio as gr
from PIL import Image

from genlab.data import DataError, ImageData
from genlab.service import ModelService, ServiceError, test_images
from genlab.store import ModelStore

log = logging.getLogger(__name__)

MAX_SEED = 2**31 - 1

# How the server shares its CPU (one torch thread per event). Searches of many network passes (GAN
# inversion, inpainting, an attribute from examples) queue in one group, as many at a time as there
# are cores, so a class's burst of them waits its turn (with its queue position on the page) instead
# of slowing every other action down; light events (a decode, a sample grid) run beside them.
HEAVY_CONCURRENCY = max(1, min(4, os.cpu_count() or 1))
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": HEAVY_CONCURRENCY}
# Inpainting's requests are searched together, one search per model (genlab.inpainting.FillBatcher),
# so many wait at once, each in a Gradio worker thread that only waits: a batch of up to this many
# requests (64 rows of 4 fills a model; a row costs no less in a larger batch).
FILL_CONCURRENCY = 16
FILLS = {"concurrency_id": "fills", "concurrency_limit": FILL_CONCURRENCY}
LIGHT_CONCURRENCY = 8  # each light event type, at most this many at once
QUEUE_MAX_SIZE = 512  # events waiting at once; past it a new event is refused with Gradio's "queue is full"


def configure_queue(demo: gr.Blocks) -> gr.Blocks:
    """The app's queue: bounded, light events side by side, heavy ones in the `HEAVY` group."""
    return demo.queue(default_concurrency_limit=LIGHT_CONCURRENCY, max_size=QUEUE_MAX_SIZE)


def _fingerprint(value: Any) -> Any:
    """A hashable stand-in for a handler's argument (pictures by their pixels)."""
    if isinstance(value, Image.Image):
        return ("image", value.mode, value.size, hashlib.sha256(value.tobytes()).hexdigest())
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _fingerprint(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_fingerprint(v) for v in value))
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(type(value).__name__)


def _files_exist(result: Any) -> bool:
    """Whether the files a result names (e.g. a GIF, removed when stale) are still there."""
    items = result if isinstance(result, (list, tuple)) else [result]
    return all(os.path.exists(v) for v in items if isinstance(v, str) and os.path.isabs(v))


def cached_event(fn: Callable[..., Any], max_size: int = 64) -> Callable[..., Any]:
    """`fn`, answering a repeated call from memory: a class presses the same button after the same
    sentence, and a first visit's defaults are computed at start-up. For deterministic handlers only.

    The cache sits inside the handler, after Gradio has checked the inputs, so a bad input still
    gets its own message (gr.cache answers before that check, and a bad input there becomes an
    HTTP 500). Arguments that cannot be fingerprinted (and the progress tracker) skip the cache.
    """
    results: OrderedDict[Any, Any] = OrderedDict()
    lock = threading.Lock()
    names = list(inspect.signature(fn).parameters)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = dict(zip(names, args), **kwargs)
        try:
            key = _fingerprint([v for k, v in bound.items() if k != "progress"])
        except TypeError:
            return fn(*args, **kwargs)
        with lock:
            if key in results and _files_exist(results[key]):
                results.move_to_end(key)
                return results[key]
        result = fn(*args, **kwargs)
        with lock:
            results[key] = result
            while len(results) > max_size:
                results.popitem(last=False)
        return result

    return wrapper


def dataset_argument(dataset: str, image_shape: tuple[int, int, int] | None = None) -> str:
    """What `--dataset` of the train/ scripts takes for a dataset the app names: a built-in dataset's
    name, else the folder its models were trained on (the app never shows where that is), followed
    by the model's --image-size and --channels when `image_shape` (C, H, W) is given."""
    from genlab.data import CLASS_NAMES

    if dataset in (*CLASS_NAMES, "synthetic"):
        return dataset
    size = f" --image-size {image_shape[1]} --channels {image_shape[0]}" if image_shape else ""
    return f"path/to/{dataset}{size}"


def user_error(message: str) -> gr.Error:
    """A message shown to the user in place of a traceback."""
    return gr.Error(message, print_exception=False)


def describe(value: Any, limit: int = 60) -> str:
    """A value as a message shows it: numbers short (1e+300, nan), anything else as a clipped repr."""
    if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass
class Shell:
    """Components and helpers shared by all tabs. Built once inside `gr.Blocks`."""

    store: ModelStore
    first_views: Any = None  # genlab.ui.first_view.FirstViews: what a first visit shows
    model_picker: Any = None  # gr.Dropdown of the names of every model of images
    seed_box: Any = None  # gr.Number
    _model_change: list[tuple[Callable, list, Any]] = field(default_factory=list)
    _load: list[tuple[Callable, list, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.first_views is None:
            from genlab.ui.first_view import FirstViews

            self.first_views = FirstViews()

    # -- checks -----------------------------------------------------------------------------
    def model(self, name: Any, kinds: tuple[str, ...] | None = None) -> ModelService:
        """The service of the model called `name`, or a user error: a model of images (any kind the
        picker lists), or one of `kinds` (config "kind" strings) for a lesson about one family."""
        if not name:
            raise user_error("Pick a model first.")
        try:
            service = self.store.service(str(name))
        except KeyError as e:
            raise user_error(str(e.args[0])) from None
        if kinds is None and not service.generative:
            raise user_error(f"{name} is a {service.label}; this needs a model of images.")
        if kinds is not None and service.kind not in kinds:
            raise user_error(f"{name} is a {service.label}; this needs a {' or '.join(k.upper() for k in kinds)}.")
        return service

    def test_images(self, model: ModelService | str) -> ImageData:
        """The test images of a model at its size (its own held-out pictures when it carries them,
        genlab.heldout), or of a dataset (those of the dataset's model, `dataset_model`; else its test
        split at 28x28 grey), or a user error that names no server path (the log keeps the details)."""
        if isinstance(model, str):
            model = self.dataset_model(model) or model
        try:
            return model.test_images() if isinstance(model, ModelService) else test_images(model)
        except DataError as e:
            dataset = model.dataset if isinstance(model, ModelService) else model
            log.warning("test images of %s: %s", dataset, e)
            raise user_error(f"The test images of {dataset} are not on this server: see data/README.md "
                             f"in the Genlab repository for where they go.") from None

    def dataset_model(self, dataset: str) -> ModelService | None:
        """The model whose test images stand for `dataset`'s: its VAE, else its GAN, else its
        classifier (`ModelStore.chosen`); None when no model was trained on it."""
        if self.store is None:
            return None
        chosen = self.store.chosen(str(dataset))
        return next((chosen[k] for k in ("vae", "gan", "classifier") if chosen.get(k) is not None), None)

    @staticmethod
    def serve(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """fn(*args, **kwargs) for a service method, its ServiceError turned into a user error."""
        try:
            return fn(*args, **kwargs)
        except ServiceError as e:
            raise user_error(str(e)) from None

    def seed(self, value: Any) -> int:
        return self.int_in_range(value, "Seed", 0, MAX_SEED)

    @staticmethod
    def number(value: Any, label: str, low: float, high: float) -> float:
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise user_error(f"{label} must be a number, got {describe(value)}.") from None
        if not math.isfinite(x) or not low <= x <= high:
            raise user_error(f"{label} must be between {describe(low)} and {describe(high)}, got {describe(value)}.")
        return x

    @classmethod
    def int_in_range(cls, value: Any, label: str, low: int, high: int) -> int:
        x = cls.number(value, label, low, high)
        if x != int(x):
            raise user_error(f"{label} must be a whole number, got {describe(value)}.")
        return int(x)

    # -- wiring -----------------------------------------------------------------------------
    def on_model_change(self, fn: Callable, inputs: list, outputs: Any) -> None:
        """Also run `fn(inputs) -> outputs` whenever the picked model changes (and on load)."""
        self._model_change.append((fn, inputs, outputs))

    def on_load(self, fn: Callable, inputs: list, outputs: Any) -> None:
        """Run `fn(inputs) -> outputs` when a page loads (after the model picker is set)."""
        self._load.append((fn, inputs, outputs))

    def model_choices(self) -> list[tuple[str, str]]:
        """(label, name) for every model of images (VAEs, GANs, diffusion models...), grouped by dataset."""
        out = []
        services = self.store.services
        for name in sorted(self.store.generative_names(), key=lambda n: (services[n].dataset, services[n].kind, n)):
            out.append((services[name].describe(), name))
        return out
