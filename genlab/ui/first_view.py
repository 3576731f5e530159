"""First views computed once, at start-up, instead of on every page open.

What a first visit shows (the default model's samples, sliders, interpolation, edit, the lessons'
tables) is the same for every visitor. Run as `demo.load` events it cost each page open 22 queued
events and ~3 s of server CPU (bench/classroom.py), and a class opening the page at once queued
behind itself. Here each tab's page-load handler runs once while the app is built, with the
components' own initial values as its inputs, and its results become the outputs' initial values:
they reach the page inside its config, with no queued work.

A handler's result for an output is either a value (set as if it had been passed as `value=`) or
a component update such as `gr.Dropdown(choices=..., value=...)` (its arguments merged into the
component's, as Gradio merges an update returned by an event). Both go through public API: the
component's `postprocess`, its `constructor_args`, and a new instance built from the merged
arguments whose settings are copied onto the rendered one. tests/test_first_view.py checks that
the page's config carries the values, so a Gradio upgrade that changes this fails there.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr

log = logging.getLogger(__name__)

FIRST_VIEWS_NAME = "first-views.json"  # in the checkpoints folder: the curated first views of its models


@dataclass(frozen=True)
class FirstViews:
    """What a first visit shows: the model and seed of the page, the image and attribute the Edit tab
    opens on, the two images Interpolate opens with. Chosen by hand for the shipped checkpoints
    (checkpoints/first-views.json); a folder without that file gets these defaults."""

    model_name: str | None = None  # None: the MNIST VAE, else the first model
    seed: int = 0
    edit_seed: int = 0
    edit_attribute: str = "thickness"
    edit_conditional: bool = False
    interpolate_seeds: tuple[int, int] = (0, 1)

    @classmethod
    def read(cls, root: str | Path) -> "FirstViews":
        """The curated first views of the checkpoints in `root`; defaults when there are none (or a
        broken file: logged, never fatal)."""
        path = Path(root) / FIRST_VIEWS_NAME
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text())
            edit, pair = data.get("edit", {}), data.get("interpolate", {})
            return cls(model_name=data.get("model"), seed=int(data.get("seed", 0)), edit_seed=int(edit.get("seed", 0)),
                       edit_attribute=str(edit.get("attribute", "thickness")),
                       edit_conditional=bool(edit.get("conditional", False)),
                       interpolate_seeds=(int(pair.get("seed_a", 0)), int(pair.get("seed_b", 1))))
        except (OSError, ValueError, TypeError, AttributeError) as e:
            log.warning("%s could not be read (%s); the default first views are used", path, e)
            return cls()


def _as_list(blocks: Any) -> list[Any]:
    return list(blocks) if isinstance(blocks, (list, tuple, set)) else [blocks]


def initial_input(block: Any) -> Any:
    """The value `block` hands a handler when a page has just opened (what `demo.load` would pass)."""
    if isinstance(block, gr.State):
        return copy.deepcopy(block.value)
    value = block.value
    if value is None:
        return None
    data_model = getattr(block, "data_model", None)
    if data_model is not None:  # as Gradio hands a payload to `preprocess`: validated into its model
        value = data_model.model_validate(value, context={"validate_meta": False})
    return block.preprocess(value)


def set_initial(block: Any, result: Any) -> None:
    """Make `result` (a value, or a component update) the initial value / settings of `block`."""
    if isinstance(block, gr.State):
        block.value = copy.deepcopy(result.value if isinstance(result, gr.State) else result)
        return
    if isinstance(result, gr.components.Component):  # an update: merge its arguments
        update = {k: v for k, v in result.constructor_args.items() if k != "render"}
        # The update has processed its value already (its files are in the cache): that value is
        # taken as it is, so no picture is written twice and none is left untracked.
        args = {**block.constructor_args, **update, "value": None, "render": False}
        source = result if "value" in update else None
    else:
        args = {**block.constructor_args, "value": result, "render": False}
        source = None
    fresh = type(block)(**args)
    for name in inspect.signature(type(block).__init__).parameters:
        if name not in ("self", "render", "value") and hasattr(fresh, name):
            setattr(block, name, getattr(fresh, name))
    if isinstance(result, gr.components.Component) and source is None:
        return  # an update of settings only: the value stays
    source = source if source is not None else fresh
    block.value = source.value
    block.keep_in_cache.update(getattr(source, "keep_in_cache", ()))  # the sweep keeps a default's files
    block.constructor_args.update({k: v for k, v in args.items() if k not in ("render", "value")})


def bake(handlers: Sequence[tuple[Callable[..., Any], Sequence[Any], Any]]) -> list[str]:
    """Run each (fn, inputs, outputs) once with the inputs' initial values and set the outputs'
    initial values from its results, in order (a later handler sees an earlier one's outputs).
    A handler that fails leaves its outputs as they were; returns one line per failure.
    Call it after the app's `with gr.Blocks()` has closed: inside it, a component update a handler
    returns would be drawn on the page as a component of its own."""
    problems = []
    for fn, inputs, outputs in handlers:
        outs = _as_list(outputs)
        try:
            results = fn(*[initial_input(b) for b in _as_list(inputs)])
        except gr.Error as e:  # e.g. no model of that kind: the page shows the empty view
            problems.append(f"{getattr(fn, '__qualname__', fn)}: {e.message}")
            continue
        except Exception as e:  # noqa: BLE001 - a first view must never stop the app from starting
            log.warning("first view of %s failed", getattr(fn, "__qualname__", fn), exc_info=e)
            problems.append(f"{getattr(fn, '__qualname__', fn)}: {type(e).__name__}: {e}")
            continue
        results = list(results) if len(outs) > 1 else [results]
        if len(results) != len(outs):
            problems.append(f"{getattr(fn, '__qualname__', fn)}: {len(results)} results for {len(outs)} outputs")
            continue
        for block, result in zip(outs, results):
            set_initial(block, result)
    return problems
