"""What every tab shares: the model picker, the seed, input checks that become clear errors."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import gradio as gr

from genlab.data import DataError, ImageData
from genlab.service import ModelService, ServiceError, test_images
from genlab.ui.store import ModelStore

log = logging.getLogger(__name__)

MAX_SEED = 2**31 - 1


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
    model_picker: Any = None  # gr.Dropdown of VAE and GAN checkpoint names
    seed_box: Any = None  # gr.Number
    _model_change: list[tuple[Callable, list, Any]] = field(default_factory=list)
    _load: list[tuple[Callable, list, Any]] = field(default_factory=list)

    # -- checks -----------------------------------------------------------------------------
    def model(self, name: Any, kinds: tuple[str, ...] = ("vae", "gan")) -> ModelService:
        """The service of the model called `name`, of one of `kinds`, or a user error."""
        if not name:
            raise user_error("Pick a model first.")
        try:
            service = self.store.service(str(name))
        except KeyError as e:
            raise user_error(str(e.args[0])) from None
        if service.kind not in kinds:
            raise user_error(f"{name} is a {service.kind}; this needs a {' or '.join(kinds)}.")
        return service

    @staticmethod
    def test_images(model: ModelService | str) -> ImageData:
        """The test split of a model's dataset at its size (or of a dataset, at 28x28 grey), or a
        user error that names no server path (the log keeps the details)."""
        try:
            return model.test_images() if isinstance(model, ModelService) else test_images(model)
        except DataError as e:
            dataset = model.dataset if isinstance(model, ModelService) else model
            log.warning("test images of %s: %s", dataset, e)
            raise user_error(f"The test images of {dataset} are not on this server: see data/README.md "
                             f"in the Genlab repository for where they go.") from None

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
        """(label, name) for every VAE and GAN, grouped by dataset."""
        out = []
        services = self.store.services
        for name in sorted(self.store.names(("vae", "gan")), key=lambda n: (services[n].dataset, services[n].kind, n)):
            out.append((services[name].describe(), name))
        return out
