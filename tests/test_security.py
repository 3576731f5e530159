"""Issue 7, security: no code that unpickles or evaluates, safe launch defaults, a patched Gradio,
uploads limited to pictures, and nothing uploaded served back as a page or an SVG.

tests/test_shipped.py greps genlab/, train/ and app.py for pickle loads; the scanner here reads
the syntax tree of every script (bench/ and docs/ too), so aliases (`import torch as t; t.load`,
`from pickle import loads`) and the other ways to run stored code are caught as well.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import socket
from pathlib import Path

import gradio as gr
import pytest
import requests
from packaging.version import Version
from PIL import Image

from app_server import VAE_NAME, call, expect_error, genlab_app, make_tiny_checkpoints, upload  # noqa: F401
from conftest import REPO_ROOT
from genlab.preprocess import MAX_PIXELS
from genlab.ui.uploads import Drawing, IMAGE_FILE_TYPES, ImageUpload, MAX_FILE_SIZE, MAX_UPLOAD_BYTES

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

MIN_GRADIO = Version("6.20")  # the 2024-2026 security fixes (file serving, SSRF, path traversal)

# --------------------------------------------------------------------------- code that runs stored code

PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "jsonpickle"}
ALWAYS_UNSAFE = {"torch.jit.load", "yaml.unsafe_load", "yaml.full_load", "numpy.lib.format.read_array"}


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """`t.load` -> "torch.load" given `import torch as t`; None for calls on anything but names."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_constant(node: ast.AST | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unsafe_code(source: str) -> list[str]:
    """Lines that unpickle, or run stored or typed-in code: pickle-family imports and loads,
    torch.load without weights_only=True, numpy.load with allow_pickle, yaml.load without a safe
    loader, torch.jit.load, eval and exec."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {"np": "numpy"}
    found: list[str] = []
    for node in ast.walk(tree):  # imports first, wherever they are
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
                if a.name.split(".")[0] in PICKLE_MODULES:
                    found.append(f"line {node.lineno}: import {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            if node.module.split(".")[0] in PICKLE_MODULES:
                found.append(f"line {node.lineno}: from {node.module} import ...")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func, aliases)
        if name is None:
            continue
        where = f"line {node.lineno}: {name}("
        if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
            found.append(where)
        elif name.split(".")[0] in PICKLE_MODULES or name in ALWAYS_UNSAFE:
            found.append(where)
        elif name == "torch.load" and not _is_constant(_keyword(node, "weights_only"), True):
            found.append(where + " without weights_only=True")
        elif name == "numpy.load" and _keyword(node, "allow_pickle") is not None \
                and not _is_constant(_keyword(node, "allow_pickle"), False):
            found.append(where + "allow_pickle=...")
        elif name == "yaml.load":
            loader = _keyword(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
            if not (isinstance(loader, (ast.Attribute, ast.Name)) and (_dotted(loader, aliases) or "").endswith("SafeLoader")):
                found.append(where + " without a SafeLoader")
    return found


def test_the_scanner_can_fail():
    # Assembled from pieces, so that this file itself does not hold the calls it looks for.
    pk, tl, ev = "pick" + "le", "torch" + ".load", "ev" + "al"
    unsafe = [
        f"import {pk}\nx = {pk}.loads(b)",
        f"from {pk} import loads as L\nx = L(b)",
        "import dill",
        f"import torch\nstate = {tl}(path)",
        "import torch as t\nstate = t.load(path, weights_only=False)",
        "from torch import load\nstate = load(path, map_location='cpu')",
        f"import torch\nkw = dict(weights_only=True)\nstate = {tl}(path, **kw)",
        "import numpy as np\na = np.load(path, allow_pickle=True)",
        "import numpy\na = numpy.load(path, allow_pickle=flag)",
        "import yaml\nc = yaml.load(text)",
        "import yaml\nc = yaml.load(text, Loader=yaml.Loader)",
        "import torch\nm = torch.jit.load(path)",
        f"x = {ev}(user_text)",
        "ex" + "ec(code)",
    ]
    for source in unsafe:
        assert unsafe_code(source), source
    safe = [
        f"import torch\nstate = {tl}(path, weights_only=True)",
        "import numpy as np\na = np.load(path)",
        "import numpy as np\na = np.load(path, allow_pickle=False)",
        "import yaml\nc = yaml.load(text, Loader=yaml.SafeLoader)\nd = yaml.safe_load(text)",
        "from safetensors.torch import load_file\nstate = load_file(path)",
        "model.eval()\nimage.load()\ndemo.load(fn)",
        "import json\nx = json.loads(text)",
    ]
    for source in safe:
        assert not unsafe_code(source), (source, unsafe_code(source))


def scripts() -> list[Path]:
    """The package and every script: genlab/, train/, bench/, docs/ and app.py."""
    files = [p for folder in ("genlab", "train", "bench", "docs") for p in sorted((REPO_ROOT / folder).rglob("*.py"))]
    return files + [REPO_ROOT / "app.py"]


def test_no_code_unpickles_or_evaluates():
    files = scripts()
    assert len(files) > 20
    problems = [f"{p.relative_to(REPO_ROOT)}:{hit}" for p in files for hit in unsafe_code(p.read_text())]
    assert not problems, "code that can run stored or typed-in code:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- launch defaults


class FakeDemo:
    """Stands in for the built app: records what app.main passes to launch."""

    def __init__(self):
        self.launched: dict = {}

    def queue(self, **kwargs):
        return self

    def launch(self, **kwargs):
        self.launched = kwargs


@pytest.fixture
def launch(monkeypatch, tmp_path):
    """Run app.main(argv) without serving anything; returns the keyword arguments of demo.launch."""
    import app

    for name in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "GRADIO_SHARE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRADIO_SHARE", "True")  # Gradio reads it when share is left unset; app.py must not
    root = make_tiny_checkpoints(tmp_path)
    demo = FakeDemo()
    monkeypatch.setattr(app, "build_app", lambda store: demo)

    def run(*argv: str) -> dict:
        app.main(["--checkpoints", str(root), *argv])
        return demo.launched

    return run


def test_launch_binds_localhost_without_a_share_link_unless_asked(launch):
    kwargs = launch()
    assert kwargs["server_name"] == "127.0.0.1"
    assert kwargs["share"] is False
    assert kwargs["max_file_size"] == MAX_FILE_SIZE
    assert not kwargs.get("allowed_paths") and not kwargs.get("ssr_mode")  # nothing else of the disk served
    assert launch("--host", "0.0.0.0")["server_name"] == "0.0.0.0"
    assert launch("--share")["share"] is True


def test_upload_limit_is_ten_megabytes():
    from gradio.utils import _parse_file_size

    assert _parse_file_size(MAX_FILE_SIZE) == MAX_UPLOAD_BYTES == 10 * 2**20


def test_gradio_has_the_security_fixes():
    installed = Version(importlib.metadata.version("gradio"))
    assert installed >= MIN_GRADIO, f"gradio {installed} predates the security fixes of {MIN_GRADIO}"
    text = (REPO_ROOT / "requirements.txt").read_text()
    pin = re.search(r"^gradio~=([\w.]+)\s*$", text, flags=re.MULTILINE)
    assert pin, "requirements.txt must take gradio's patch releases of one minor version (gradio~=X.Y.Z)"
    assert Version(pin.group(1)) >= MIN_GRADIO
    floor = Version(pin.group(1))
    assert floor <= installed and installed.release[:2] == floor.release[:2], \
        "the tests ran on another gradio than requirements.txt allows"


# --------------------------------------------------------------------------- uploads: pictures only


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from genlab.ui.app import build_app
    from genlab.store import ModelStore

    return build_app(ModelStore.load(make_tiny_checkpoints(tmp_path_factory.mktemp("security"))))


FILE_INPUTS = (gr.Image, gr.ImageEditor, gr.File, gr.UploadButton, gr.Audio, gr.Video, gr.Model3D,
               gr.MultimodalTextbox, gr.Gallery)


def test_every_file_input_takes_pictures_only(demo):
    inputs = {id(b): b for fn in demo.fns.values() for b in fn.inputs}.values()
    file_inputs = [b for b in inputs if isinstance(b, FILE_INPUTS)]
    assert len(file_inputs) >= 5  # uploads and drawings of three tabs, example files
    for block in file_inputs:
        if isinstance(block, gr.File):
            assert block.file_types and set(block.file_types) <= set(IMAGE_FILE_TYPES), block.label
        else:
            # Checked from the header before decoding (genlab.preprocess.open_image), raster formats only.
            assert isinstance(block, (ImageUpload, Drawing)), f"{block.label}: a {type(block).__name__}"
    assert not {".svg", ".html", ".htm", ".xml", "image"} & set(IMAGE_FILE_TYPES)
    assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS  # and PIL refuses twice that anywhere in the process


def test_the_checked_inputs_are_drawn_like_gradios():
    """The browser gets the same props for ImageUpload / Drawing as for gr.Image / gr.Sketchpad."""
    upload = dict(label="Upload", sources=["upload", "clipboard"], format="png", height=220)
    drawing = dict(label="Draw", canvas_size=(280, 280), height=330, layers=False, format="png",
                   brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=14))
    pairs = [(ImageUpload(**upload), gr.Image(**upload)), (Drawing(**drawing), gr.Sketchpad(**drawing))]
    for ours, theirs in pairs:
        mine, gradio = ours.get_config(), theirs.get_config()
        assert ours.get_block_name() == theirs.get_block_name()
        for props in (mine, gradio):
            for key in ("type", "image_mode"):  # what the server hands the handlers, not what the browser draws
                props.pop(key, None)
        assert mine == gradio


def test_importing_the_app_writes_nothing_into_the_package():
    """Gradio writes a .pyi stub beside any module that defines a component class; ours must not."""
    import genlab.ui.app  # noqa: F401 - defines ImageUpload and Drawing (already imported by now)

    assert not sorted((REPO_ROOT / "genlab").rglob("*.pyi"))


@pytest.mark.parametrize("name", ["drawing.svg", "page.html", "page.htm", "drawing.eps", "data.json"])
def test_file_inputs_refuse_files_that_are_not_pictures(name, tmp_path):
    from gradio.data_classes import FileData, ListFiles

    path = tmp_path / name
    path.write_text("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")
    files = gr.File(file_count="multiple", file_types=IMAGE_FILE_TYPES, type="filepath")
    with pytest.raises(gr.Error, match="Invalid file type"):
        files.preprocess(ListFiles([FileData(path=str(path), orig_name=name)]))
    with pytest.raises(gr.Error, match="not a picture|could not be read"):
        ImageUpload().preprocess(FileData(path=str(path), orig_name=name))


# --------------------------------------------------------------------------- nothing served back as a page


@pytest.mark.parametrize("name, body", [
    ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'),
    ("page.html", b"<html><body><script>alert(1)</script></body></html>"),
    ("page.png", b"<html><body><script>alert(1)</script></body></html>"),  # markup under a picture's name
], ids=["svg", "html", "html-named-png"])
def test_uploaded_markup_is_never_served_back_as_a_page(genlab_app, tmp_path, name, body):
    path = tmp_path / name
    path.write_bytes(body)
    filedata = upload(genlab_app, path)
    r = requests.get(f"{genlab_app}/gradio_api/file={filedata['path']}", timeout=60)
    assert r.status_code == 200
    content_type = r.headers["content-type"].split(";")[0].strip().lower()
    assert content_type not in {"image/svg+xml", "text/html", "application/xhtml+xml", "text/xml", "application/xml"}
    if not name.endswith(".png"):  # Gradio serves types that could run scripts as downloads
        assert content_type == "application/octet-stream"
        assert r.headers["content-disposition"].startswith("attachment")
    else:  # image/png is never rendered as a page by a browser
        assert content_type == "image/png"
    # And the app refuses it as a picture.
    expect_error(call(genlab_app, "slider_start_upload", [VAE_NAME, filedata, 50]), "not a picture")


def test_a_link_given_as_a_file_is_not_fetched(genlab_app):
    """Gradio downloads a FileData whose path is a URL; the app refuses it before, so it cannot be
    used to make the server fetch pages (of its own network, or large ones)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(1.0)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/picture.png"
        file = {"path": url, "meta": {"_type": "gradio.FileData"}}
        expect_error(call(genlab_app, "slider_start_upload", [VAE_NAME, file, 50]), "not links")
        with pytest.raises(socket.timeout):
            listener.accept()  # nobody came
