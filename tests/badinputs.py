"""A corpus of bad inputs for Genlab, made in memory or in a tmp folder (a helper, not a test module).

    files = write_files(folder)          # {name: path} of every BAD_FILES kind, written once
    for case in BAD_FILES: ...           # what each file is and how it must end
    for case in BAD_VALUES: ...          # numbers, types, names and requests over the API
    for case in BROKEN_CHECKPOINTS: ...  # ways a checkpoint folder can be broken

Each kind has a short name (the test id) and says how it must end: an error whose message holds
`error` (any case), or a picture (`error=None`), for files one that looks like `reference_drawing()`
when `like_reference` is set. The big ones (a 400-megapixel bomb, 10,000x4,000 pixels) are PNGs
written row by row, so they cost a fraction of a second and little memory.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file, save_file

# ----------------------------------------------------------------------------- pictures


def reference_drawing(mode: str = "RGB", ink: Any = "black", paper: Any = "white") -> Image.Image:
    """A "1" as a user draws it: a thick, slightly slanted dark stroke on white paper, 300x200."""
    im = Image.new(mode, (300, 200), paper)
    ImageDraw.Draw(im).line([(170, 30), (150, 170)], fill=ink, width=14)
    return im


def png_bytes(width: int, height: int, row: Callable[[int], bytes], bit_depth: int = 8) -> bytes:
    """A grayscale PNG whose row y holds row(y) (packed pixels), compressed as it is built."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    deflate = zlib.compressobj(9)
    parts = []
    for y in range(height):
        parts.append(deflate.compress(b"\0" + row(y)))  # filter type 0 (none) for every row
    parts.append(deflate.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


def _save(im: Image.Image, path: Path, **kwargs: Any) -> None:
    im.save(path, **kwargs)


def _bomb(side: int) -> Callable[[Path], None]:
    """A valid, all-black 1-bit PNG of side x side pixels: a few kB that decode to side**2 pixels."""
    def write(path: Path) -> None:
        black = bytes((side + 7) // 8)
        path.write_bytes(png_bytes(side, side, lambda y: black, bit_depth=1))
    return write


def _huge(path: Path) -> None:
    """10,000 x 4,000 pixels: a dark vertical bar on white (40 megapixels, ~0.1 MB as a PNG)."""
    width, height = 10_000, 4_000
    white = bytes([255]) * width
    bar = np.full(width, 255, np.uint8)
    bar[4_800:5_200] = 0
    bar_row = bar.tobytes()
    path.write_bytes(png_bytes(width, height, lambda y: bar_row if 500 <= y < 3_500 else white))


def _rgba_transparent(path: Path) -> None:
    im = Image.new("RGBA", (300, 200), (0, 0, 0, 0))  # a sketchpad's canvas: transparent black
    ImageDraw.Draw(im).line([(170, 30), (150, 170)], fill=(0, 0, 0, 255), width=14)
    im.save(path)


def _sixteen_bit(path: Path) -> None:
    gray = np.asarray(reference_drawing("L"), dtype=np.uint16) * 257  # 0..65535
    Image.fromarray(gray).save(path)  # a 16-bit grayscale PNG


def _animated(path: Path) -> None:
    first = reference_drawing("L").convert("P")
    blank = Image.new("P", first.size, 255)
    other = reference_drawing("L")
    ImageDraw.Draw(other).ellipse([40, 40, 120, 160], outline=0, width=10)
    first.save(path, save_all=True, append_images=[blank, other.convert("P")], duration=100, loop=0)


def _exif_rotated(path: Path) -> None:
    """The drawing stored turned on its side, with EXIF orientation 6 ("rotate 90 clockwise to view")."""
    exif = Image.Exif()
    exif[0x0112] = 6
    reference_drawing().transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=95)


def _truncated(path: Path) -> None:
    import io

    buffer = io.BytesIO()
    reference_drawing().save(buffer, "PNG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


SVG_WITH_SCRIPT = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28" '
                   b'onload="alert(document.cookie)"><script>alert("svg")</script>'
                   b'<rect width="28" height="28" fill="black"/></svg>\n')
HTML_PAGE = b"<!doctype html><html><body><script>alert('html')</script></body></html>\n"
POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nnewpath 0 0 moveto 28 28 lineto stroke\nshowpage\n"


@dataclass(frozen=True)
class BadFile:
    """An uploaded file: how to write it, and how it must end."""

    name: str
    filename: str  # the name it is uploaded under (its extension is what a browser would say)
    write: Callable[[Path], None]
    error: str | None  # a word the error holds; None: a prepared picture comes out
    like_reference: bool = False  # the prepared picture must look like reference_drawing()'s


BAD_FILES: list[BadFile] = [
    BadFile("text-named-png", "text.png", lambda p: p.write_bytes(b"Hello! This is not a picture.\n" * 8),
            "could not be read as an image"),
    BadFile("truncated-png", "truncated.png", _truncated, "damaged or truncated"),
    BadFile("zero-bytes", "zero.png", lambda p: p.write_bytes(b""), "empty"),
    BadFile("bomb-400-megapixels", "bomb.png", _bomb(20_000), "megapixels"),
    BadFile("over-limit-64-megapixels", "big.png", _bomb(8_000), "megapixels"),
    BadFile("one-pixel", "dot.png", lambda p: _save(Image.new("L", (1, 1), 0), p), "at least 2x2"),
    BadFile("huge-10000x4000", "panorama.png", _huge, None),
    BadFile("rgba-transparent", "transparent.png", _rgba_transparent, None, like_reference=True),
    BadFile("gray-16-bit", "sixteen.png", _sixteen_bit, None, like_reference=True),
    BadFile("palette", "palette.png", lambda p: _save(reference_drawing().convert("P"), p), None, like_reference=True),
    BadFile("cmyk-jpeg", "cmyk.jpg", lambda p: _save(reference_drawing().convert("CMYK"), p, quality=95), None,
            like_reference=True),
    BadFile("animated-gif", "animated.gif", _animated, None, like_reference=True),  # the first frame is used
    BadFile("exif-rotated-jpeg", "photo.jpg", _exif_rotated, None, like_reference=True),
    BadFile("svg-with-script", "drawing.svg", lambda p: p.write_bytes(SVG_WITH_SCRIPT), "SVG"),
    BadFile("html-named-png", "page.png", lambda p: p.write_bytes(HTML_PAGE), "HTML"),
    BadFile("postscript", "drawing.eps", lambda p: p.write_bytes(POSTSCRIPT), "could not be read as an image"),
    BadFile("unknown-format", "drawing.pcx", lambda p: _save(reference_drawing(), p, format="PCX"),
            "could not be read as an image"),
    BadFile("all-black", "black.png", lambda p: _save(Image.new("RGB", (280, 280), "black"), p), "empty"),
    BadFile("all-white", "white.png", lambda p: _save(Image.new("RGB", (280, 280), "white"), p), "empty"),
    BadFile("fully-transparent", "nothing.png", lambda p: _save(Image.new("RGBA", (280, 280), (0, 0, 0, 0)), p),
            "empty"),
]


def write_files(folder: Path, prefix: str = "") -> dict[str, Path]:
    """Write every BAD_FILES kind into `folder` (names prefixed by `prefix`); returns {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in BAD_FILES:
        path = folder / f"{prefix}{case.filename}"
        if not path.exists():
            case.write(path)
        paths[case.name] = path
    return paths


# ----------------------------------------------------------------------------- values over the API

VAE, GAN = "mnist-vae-16", "mnist-gan-16"  # the tiny checkpoints of tests/app_server.py
RANDOM, DRAW, UPLOAD = "Random sample", "Draw", "Upload"
EMPTY_SKETCHPAD = {"background": None, "layers": [], "composite": None, "id": None}


def picker(source: Any = RANDOM, upload: Any = None, drawing: Any = None, index: Any = 0, seed: Any = 0) -> list:
    """One image picker's five API values (genlab.ui.inputs.ImagePicker.inputs)."""
    return [source, upload, drawing, index, seed]


def interpolate_args(steps: Any = 4, inversion_steps: Any = 20, a: list | None = None) -> list:
    return [VAE, *(a or picker(seed=0)), *picker(seed=1), steps, "linear", inversion_steps]


def edit_args(strength: Any = 1.0) -> list:
    return [VAE, *picker(), "thickness", "mean-difference", False, strength, 5, 20]


def file_data(path: str | None = None, url: str | None = None) -> dict:
    out: dict[str, Any] = {"meta": {"_type": "gradio.FileData"}}
    if path is not None:
        out["path"] = path
    if url is not None:
        out["url"] = url
    return out


@dataclass(frozen=True)
class BadValue:
    """A bad value sent to an API endpoint, and to the handler behind it.

    api_error / handler_error: a word the error holds; None: the call completes (a sensible result).
    handler: calls the UI's handler function with the same bad value (given a genlab.ui.shell.Shell);
    None where only the HTTP layer sees the value (a path on the server, a missing value).
    """

    name: str
    api: str
    data: list
    api_error: str | None
    handler: Callable[[Any], Any] | None = None
    handler_error: str | None = None


def _sliders():
    from genlab.ui import sliders
    return sliders


def _sample():
    from genlab.ui import sample
    return sample


def _interpolate():
    from genlab.ui import interpolate
    return interpolate


def _attributes():
    from genlab.ui import attributes
    return attributes


def _lesson_vae():
    from genlab.ui import lesson_vae
    return lesson_vae


def _inputs():
    from genlab.ui import inputs
    return inputs


NAN, INF = math.nan, math.inf
BAD_VALUES: list[BadValue] = [
    # -- numbers
    BadValue("seed-nan", "slider_start_sample", [VAE, NAN], "Seed must be a finite number",
             lambda s: _sliders().start_sample(s, VAE, NAN), "Seed must be between"),
    BadValue("seed-inf", "slider_start_sample", [VAE, INF], "Seed must be a finite number",
             lambda s: _sliders().start_sample(s, VAE, INF), "Seed must be between"),
    BadValue("seed-huge", "slider_start_sample", [VAE, 1e300], "got 1e+300",
             lambda s: _sliders().start_sample(s, VAE, 1e300), "got 1e+300"),
    BadValue("seed-negative", "slider_start_sample", [VAE, -5], "less than minimum value 0",
             lambda s: _sliders().start_sample(s, VAE, -5), "Seed must be between"),
    BadValue("slider-nan", "sample", [VAE, 0, 4, NAN], "Temperature must be between 0.01 and 3, got nan",
             lambda s: _sample().sample_grid(s, VAE, 0, 4, NAN), "Temperature must be between"),
    BadValue("slider-inf", "edit_attribute_ui", edit_args(strength=INF), "greater than maximum value 6",
             lambda s: _attributes().edit_attribute(s, VAE, *picker(), "thickness", "mean-difference", False,
                                                    INF, 5, 20, {}), "Strength must be between"),
    BadValue("slider-huge", "sample", [VAE, 0, 1e300, 1.0], "greater than maximum value 64",
             lambda s: _sample().sample_grid(s, VAE, 0, 1e300, 1.0), "Number of samples must be between"),
    BadValue("slider-negative", "sample", [VAE, 0, 4, -1.0], "less than minimum value 0.1",
             lambda s: _sample().sample_grid(s, VAE, 0, 4, -1.0), "Temperature must be between"),
    BadValue("steps-0", "interpolate_ui", interpolate_args(steps=0), "less than minimum value 2",
             lambda s: _interpolate().run_interpolate(s, *interpolate_args(steps=0)), "Steps must be between"),
    BadValue("steps-1", "interpolate_ui", interpolate_args(steps=1), "less than minimum value 2",
             lambda s: _interpolate().run_interpolate(s, *interpolate_args(steps=1)), "Steps must be between"),
    BadValue("steps-million", "interpolate_ui", interpolate_args(steps=10**6), "greater than maximum value 16",
             lambda s: _interpolate().run_interpolate(s, *interpolate_args(steps=10**6)), "Steps must be between"),
    BadValue("inversion-steps-million", "slider_start_dataset", [GAN, 0, 10**6], "greater than maximum value 1000",
             lambda s: _sliders().start_dataset(s, GAN, 0, 10**6, None), "Inversion steps must be between"),
    BadValue("inversion-steps-nan", "interpolate_ui", interpolate_args(inversion_steps=NAN),
             "GAN inversion steps must be between",
             lambda s: _interpolate().run_interpolate(s, *interpolate_args(inversion_steps=NAN)),
             "GAN inversion steps must be between"),
    # -- wrong types
    BadValue("text-for-number", "sample", [VAE, "abc", 4, 1.0], "Seed must be a finite number",
             lambda s: _sample().sample_grid(s, VAE, "abc", 4, 1.0), "Seed must be a number"),
    BadValue("list-for-number", "sample", [VAE, 0, [1, 2], 1.0], "Samples must be a finite number",
             lambda s: _sample().sample_grid(s, VAE, 0, [1, 2], 1.0), "Number of samples must be a number"),
    BadValue("null-for-number", "sample", [VAE, 0, None, 1.0], "Samples must be a finite number",
             lambda s: _sample().sample_grid(s, VAE, 0, None, 1.0), "Number of samples must be a number"),
    BadValue("object-for-number", "sample", [VAE, 0, 4, {"a": 1}], "must be a finite number",
             lambda s: _sample().sample_grid(s, VAE, 0, 4, {"a": 1}), "Temperature must be"),
    BadValue("bool-for-number", "slider_start_sample", [VAE, True], None,  # JSON true is 1: a sensible seed
             lambda s: _sliders().start_sample(s, VAE, True), None),
    BadValue("number-for-choice", "prepare_input", [VAE, 5, None, None, 0, 0], "not in the list of choices",
             lambda s: _inputs().resolve(s, s.model(VAE), 5, None, None, 0, 0), "Pick where the image comes from"),
    BadValue("text-for-image", "slider_start_upload", [VAE, "hello", 50], "expected an uploaded picture",
             lambda s: _sliders().start_upload(s, VAE, "hello", 50, None), "There is no file at hello"),
    BadValue("too-few-values", "decode", [VAE], "This needs 2 values"),  # /sample's missing values have defaults
    BadValue("too-many-values", "sample", [VAE, 0, 4, 1.0, 10, "extra"], None),  # the extra value is ignored
    BadValue("huge-text", "define_attribute", [VAE, "x" * 100_000, "", "", None, None, 20], "short name",
             lambda s: _attributes().define_attribute(s, VAE, "x" * 100_000, "", "", None, None, 20, {}),
             "short name"),
    BadValue("typed-numbers-huge", "vae_worked_example", ["mnist", "1e308, 1", "1, 1", "1, 1"], "between -1000 and 1000",
             lambda s: _lesson_vae().worked_example(s, "mnist", "1e308, 1", "1, 1", "1, 1"), "between -1000 and 1000"),
    # -- names
    BadValue("unknown-model", "slider_start_sample", ["no-such-model", 0], "There is no model called 'no-such-model'",
             lambda s: _sliders().start_sample(s, "no-such-model", 0), "There is no model called 'no-such-model'"),
    BadValue("model-with-dotdot", "sample", ["../checkpoints/mnist-vae-16", 0, 4, 1.0], "There is no model called",
             lambda s: _sample().sample_grid(s, "../checkpoints/mnist-vae-16", 0, 4, 1.0), "There is no model called"),
    BadValue("model-etc-passwd", "web_decoder", ["../../../../etc/passwd"], "There is no model called",
             lambda s: _sliders().web_decoder_json(s.model("../../../../etc/passwd")), "There is no model called"),
    # -- files that are not uploads
    BadValue("file-outside-uploads", "slider_start_upload", [VAE, file_data("/etc/passwd"), 50],
             "was not uploaded to Genlab"),
    BadValue("file-dotdot", "slider_start_upload", [VAE, file_data("/tmp/gradio/../../etc/passwd"), 50],
             "was not uploaded to Genlab"),
    BadValue("link-instead-of-upload", "slider_start_upload", [VAE, file_data("http://127.0.0.1:9/x.png"), 50],
             "not links"),
    BadValue("inline-data-not-an-image", "slider_start_upload",
             [VAE, file_data(url="data:image/png;base64,SGVsbG8sIHdvcmxkIQ=="), 50], "could not be read as an image"),
    # -- drawings
    BadValue("empty-sketchpad", "interpolate_ui", interpolate_args(a=picker(DRAW, drawing=EMPTY_SKETCHPAD)),
             "The drawing is empty",
             lambda s: _lesson_vae().use_drawing(s, VAE, {"background": None, "layers": [], "composite": None}),
             "The drawing is empty"),
    BadValue("no-drawing", "interpolate_ui", interpolate_args(a=picker(DRAW, drawing=None)), "There is no drawing",
             lambda s: _interpolate().run_interpolate(s, *interpolate_args(a=picker(DRAW, drawing=None))),
             "There is no drawing"),
]


# ----------------------------------------------------------------------------- broken checkpoints


def _rewrite_weights(folder: Path, change: Callable[[dict], None]) -> None:
    state = load_file(str(folder / "model.safetensors"))
    change(state)
    save_file(state, str(folder / "model.safetensors"))


def _first_weight(state: dict) -> str:
    return next(k for k, v in state.items() if v.is_floating_point() and v.ndim >= 2)


def _wrong_shape(folder: Path) -> None:
    def widen(state):
        key = _first_weight(state)
        state[key] = torch.zeros(*(n + 1 for n in state[key].shape))
    _rewrite_weights(folder, widen)


def _nan_weights(folder: Path) -> None:
    def poison(state):
        state[_first_weight(state)][0] = math.nan
    _rewrite_weights(folder, poison)


def _pickled_weights(folder: Path) -> None:
    """torch.save's pickle archive where the safetensors file should be (it must never be unpickled)."""
    torch.save({"weights": torch.zeros(2)}, folder / "model.safetensors")


def _truncate(folder: Path) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _config_change(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        info = json.loads((folder / "config.json").read_text())
        change(info)
        (folder / "config.json").write_text(json.dumps(info))
    return write


@dataclass(frozen=True)
class BrokenCheckpoint:
    name: str
    breaks: Callable[[Path], None]  # damages a saved checkpoint folder in place
    problem: str  # a word the warning shown to the user holds


BROKEN_CHECKPOINTS: list[BrokenCheckpoint] = [
    BrokenCheckpoint("invalid-json", lambda f: (f / "config.json").write_text('{"kind": "vae", '), "not valid JSON"),
    BrokenCheckpoint("json-not-an-object", lambda f: (f / "config.json").write_text("[1, 2, 3]"), "JSON object"),
    BrokenCheckpoint("unknown-kind", _config_change(lambda i: i.update(kind="diffusion")), "diffusion"),
    BrokenCheckpoint("bad-model-config", _config_change(lambda i: i["model_config"].update(latent_dim="big")),
                     "model_config"),
    BrokenCheckpoint("missing-weights", lambda f: (f / "model.safetensors").unlink(), "no model.safetensors"),
    BrokenCheckpoint("truncated-safetensors", _truncate, "not a readable safetensors file"),
    BrokenCheckpoint("pickled-weights", _pickled_weights, "not a readable safetensors file"),
    BrokenCheckpoint("wrong-shape", _wrong_shape, "has shape"),
    BrokenCheckpoint("extra-key", lambda f: _rewrite_weights(f, lambda s: s.update(surprise=torch.zeros(1))),
                     "unexpected key 'surprise'"),
    BrokenCheckpoint("missing-key", lambda f: _rewrite_weights(f, lambda s: s.pop(_first_weight(s))), "missing key"),
    BrokenCheckpoint("nan-weights", _nan_weights, "NaN"),
]
