"""The "Nearest training images" panel under the Sample tab's grid, and the /nearest endpoint for programs.

Click a sample in the grid: the sample and the 5 training images closest to it in the feature space
of the dataset's classifier appear, each with its distance, above one sentence that compares the
closest distance with how far real unseen test images are from their nearest training image
(genlab.nearest; the features are precomputed, a query is one matmul). So "did the GAN just copy?"
is answered with a number. Nothing here runs on page open: the only event is the grid's click.

The grid stays one picture (the /sample endpoint returns it as one PNG): a click's pixel is mapped
back to its cell with the grid's own geometry (genlab.ui.images.grid), and the sample is decoded
again from the model, seed, count and temperature (the same picture for the same seed).
"""

# No `from __future__ import annotations`: gr.api reads the endpoint's type hints at run time.
import inspect
from typing import Any

import gradio as gr
import torch

from genlab.api import Model
from genlab.nearest import DEFAULT_K, MAX_K, NearestIndex, Neighbours, NearestUnavailable, index_for, training_rows
from genlab.service import ModelService
from genlab.ui.images import grid, to_pil
from genlab.ui.shell import Shell, user_error
from genlab.ui.uploads import read_image

_GRID_DEFAULTS = inspect.signature(grid).parameters
GRID_CELL = int(_GRID_DEFAULTS["cell"].default)  # the Sample tab's grid: these pixels a cell ...
GRID_PAD = int(_GRID_DEFAULTS["pad"].default)  # ... and these between cells (and round the edge)
MAX_COUNT = 64  # the Sample tab's slider
HINT = ("Click a sample above to see the training images closest to it (in the classifier's feature space), "
        "with their distances, beside how far real unseen images are from their nearest training image.")
THUMBNAIL = 112  # pixels a picture of the strip is shown at


def sample_columns(count: int) -> int:
    """Columns of the Sample tab's grid of `count` samples (genlab.ui.sample.sample_grid)."""
    return min(8, count)


def grid_cell_at(x: float, y: float, count: int, ncol: int, image_size: int,
                 cell: int = GRID_CELL, pad: int = GRID_PAD) -> int | None:
    """The index of the sample under pixel (x, y) of a `grid(images, ncol, cell, pad)` picture of
    `count` images of `image_size` pixels, or None for a gap, the edge or an empty cell."""
    side = image_size * max(1, cell // image_size)
    step = side + pad
    col, inside_x = divmod(int(x) - pad, step)
    row, inside_y = divmod(int(y) - pad, step)
    if x < pad or y < pad or inside_x >= side or inside_y >= side or col >= ncol:
        return None
    index = row * ncol + col
    return index if index < count else None


def _index(service: ModelService) -> NearestIndex:
    try:
        return index_for(service)
    except NearestUnavailable as e:
        raise user_error(str(e)) from None


def _search(index: NearestIndex, image: torch.Tensor, k: int, within: int | None) -> Neighbours:
    try:
        return index.nearest(image[None], k=k, within=within)
    except NearestUnavailable as e:
        raise user_error(str(e)) from None


def _reference_line(index: NearestIndex) -> str:
    ref = index.reference
    return (f"Real test images to their nearest training image: median {ref.median:.2f}, 5th percentile "
            f"{ref.p5:.2f} ({ref.count:,} test images against the {len(index):,} training images of "
            f"{index.dataset}, in the feature space of {index.classifier.name}).")


def _subset_line(service: ModelService, within: int | None) -> str:
    """One sentence when the model saw only the first `within` training images (those are searched)."""
    return "" if within is None else (f"{service.name} was trained on the first {within:,} training images "
                                      f"only; those are the ones searched.")


def _captions(found: Neighbours) -> list[str]:
    return [f"{d:.2f} · {found.class_name(int(c))} · #{int(i)}"
            for i, d, c in zip(found.indices[0].tolist(), found.distances[0].tolist(), found.labels[0].tolist())]


def build(shell: Shell, samples: Any, inputs: list) -> None:
    """The panel under the Sample tab's grid `samples` (a gr.Image), whose inputs are
    [model, seed, count, temperature]; a click on the grid fills it."""
    gr.Markdown("### Nearest training images")
    note = gr.Markdown(HINT, elem_id="genlab-nearest-note")
    strip = gr.Gallery(label="The sample, then its nearest training images (distance · class · training image #)",
                       show_label=False, columns=DEFAULT_K + 1, rows=1, height=240, object_fit="contain",
                       allow_preview=False,
                       elem_id="genlab-nearest", elem_classes=["genlab-pixelated"])

    def show_nearest(model: str, seed: float, count: float, temperature: float, steps: Any, evt: gr.SelectData):
        service = shell.model(model)
        count = shell.int_in_range(count, "Number of samples", 1, MAX_COUNT)
        seed = shell.seed(seed)
        temperature = shell.number(temperature, "Temperature", 0.01, 3.0)
        # a diffusion model's grid was drawn with the steps slider's count (a VAE or GAN takes none)
        steps = shell.int_in_range(steps, "Steps", 1, 1000) if service.sample_steps is not None else None
        position = evt.index if isinstance(evt.index, (list, tuple)) and len(evt.index) == 2 else None
        at = grid_cell_at(*position, count, sample_columns(count), service.image_shape[-1]) if position else None
        if at is None:
            return gr.Gallery(value=[]), "Click on a sample itself, not between the samples. " + HINT
        image = service.sample(count, seed, scale=temperature, steps=steps)[at]
        items = [(to_pil(image, THUMBNAIL), f"sample {at + 1}")]
        title = f"**Sample {at + 1}** of {service.name}, seed {seed}:"
        try:
            index = index_for(service)
        except NearestUnavailable as e:  # no classifier or no index: the sample, and why there is no more
            return items, f"{title} {e}"
        within = training_rows(service.info, index)
        found = _search(index, image, DEFAULT_K, within)
        lines = [f"{title} {found.verdict(0)}", (_reference_line(index) + " " + _subset_line(service, within)).strip()]
        if found.images is not None:
            items += [(to_pil(pic, THUMBNAIL), caption) for pic, caption in zip(found.images[0], _captions(found))]
            lines.append("Below: the sample, then its nearest training images (distance · class · training image "
                         "number).")
        else:
            lines.append(f"{found.missing_images} Distances (class, training image number): "
                         + ", ".join(_captions(found)) + ".")
        return items, "\n\n".join(lines)

    samples.select(show_nearest, inputs, [strip, note], api_visibility="private", trigger_mode="always_last")


def register_api(shell: Shell) -> None:
    """The /nearest endpoint (inside the app's gr.Blocks, beside genlab.ui.programmatic's)."""
    from genlab.ui.programmatic import _call, _png  # noqa: PLC0415 - programmatic registers this

    def nearest(model: str, seed: int = 0, index: int = 0, count: int = 32, temperature: float = 1.0,
                image: gr.FileData | None = None, neighbours: int = DEFAULT_K) -> tuple[gr.FileData, dict]:
        """The training images closest to a generated image, in the feature space of the dataset's classifier,
        and how that compares with real unseen images: did the model just copy?

        Parameters:
            model: a model that samples, e.g. "mnist-gan-32"
            seed: the seed of the Sample tab's grid (when image is not given)
            index: which sample of that grid, from 0 (row by row)
            count: samples in the grid (1 to 64; the sample of an index depends on it)
            temperature: the grid's temperature (VAE) or truncation (GAN)
            image: an uploaded picture to search for instead (prepared as the model sees it)
            neighbours: how many training images to show (1 to 50)
        Returns:
            a strip (the image, then its neighbours, nearest first), and {"neighbours": [{"index", "class",
            "distance"}], "reference": {"median", "p5", "test_images"}, "closer_than_test_images", "verdict", ...}
        """
        service = shell.model(model)
        k = shell.int_in_range(neighbours, "Neighbours", 1, MAX_K)
        if image is None:
            count = shell.int_in_range(count, "Count", 1, MAX_COUNT)
            at = shell.int_in_range(index, "Index", 0, count - 1)
            seed = shell.seed(seed)
            temperature = shell.number(temperature, "Temperature", 0.01, 3.0)
            picture = service.sample(count, seed, scale=temperature)[at]
            source = f"sample {at} of seed {seed} ({count} samples, temperature {temperature:g})"
        else:
            path = image.get("path") if isinstance(image, dict) else getattr(image, "path", None)
            if not path:
                raise user_error("The image must be an uploaded file (gradio_client's handle_file).")
            picture = _call(Model(service, shell.store).prepare, read_image(gr.FileData(path=str(path))))
            source = "the uploaded image"
        found_in = _index(service)
        within = training_rows(service.info, found_in)
        found = _search(found_in, picture, k, within)
        row = [picture[None]] + ([found.images[0]] if found.images is not None else [])
        numbers = {
            "model": service.name, "dataset": found.dataset, "image": source,
            "classifier": found_in.classifier.name, "training_images": len(found_in),
            "searched": within or len(found_in),  # the first ones only when the model was trained on those
            "neighbours": [{"index": int(i), "class": found.class_name(int(c)), "distance": round(float(d), 4)}
                           for i, d, c in zip(found.indices[0], found.distances[0], found.labels[0])],
            "reference": found.reference.as_dict(),
            "closer_than_test_images": round(found.share_farther(0), 4),
            "verdict": found.verdict(0),
            "pictures": found.missing_images,  # None when the strip shows the neighbours
        }
        return _png(grid(torch.cat(row), ncol=len(torch.cat(row)))), numbers

    gr.api(nearest, api_name="nearest")
