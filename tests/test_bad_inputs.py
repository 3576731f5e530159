"""Issue 7: every kind of bad input (tests/badinputs.py) through the UI's handlers and the HTTP API.

Each ends in a gr.Error whose message is a clear sentence, or in a sensible result; never a
traceback or a bare "Error", never a hang. The server answers the next request, and nothing is
written outside the app's temporary folders. Broken checkpoint folders are skipped with a warning
shown on the page while the others load.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import numpy as np
import pytest
import torch
from gradio.components.image_editor import EditorData
from gradio.data_classes import FileData, ImageData

from app_server import (call, fetch_image, genlab_app, genlab_app_checkpoints,  # noqa: F401 - fixtures
                        make_tiny_checkpoints, upload)
from badinputs import (BAD_FILES, BAD_VALUES, BROKEN_CHECKPOINTS, DRAW, UPLOAD, VAE, BadFile, BadValue,
                       reference_drawing, write_files)
from conftest import REPO_ROOT
from genlab.preprocess import prepare_image
from genlab.ui import inputs, lesson_vae
from genlab.ui.images import to_pil
from genlab.ui.uploads import Drawing, ImageUpload
from genlab.ui.shell import Shell
from genlab.store import ModelStore

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

HANG_SECONDS = 120  # a call that has not ended by then counts as a hang
TOKEN = uuid.uuid4().hex[:10]  # in the name of every file this module uploads, to find copies of them
PYTHON_NOISE = re.compile(r"Traceback|File \"|line \d+, in |\w+(Error|Exception)\b|object at 0x|<class '")


def assert_clear_sentence(message: Any) -> str:
    """A message a person can read: a sentence, not a Python exception, a traceback or a bare "Error"."""
    assert isinstance(message, str), f"the error has no message: {message!r}"
    text = message.removeprefix("⚠️").strip()
    assert 15 <= len(text) <= 600, text
    assert text[0].isupper() or text[0] in "μσε", text
    assert text[-1] in ".!?)]'", text
    assert not PYTHON_NOISE.search(text), text
    return text


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return write_files(tmp_path_factory.mktemp("bad-inputs"), prefix=f"genlab-bad-{TOKEN}-")


@pytest.fixture(scope="module")
def shell(tmp_path_factory) -> Shell:
    return Shell(ModelStore.load(make_tiny_checkpoints(tmp_path_factory.mktemp("handler-checkpoints"))))


@pytest.fixture(scope="module")
def reference() -> torch.Tensor:
    """What the tiny MNIST models see of reference_drawing(): (1, 28, 28)."""
    return prepare_image(reference_drawing())


def listing(folder: Path, recursive: bool) -> set[str]:
    if not folder.is_dir():
        return set()
    paths = folder.rglob("*") if recursive else folder.iterdir()
    return {p.relative_to(folder).as_posix() for p in paths if "__pycache__" not in p.parts}


WATCHED = {  # folder: recursive? Nothing the app does may add files here.
    REPO_ROOT: False, Path.cwd(): False, REPO_ROOT / "checkpoints": True,
}
_before: dict[Path, set[str]] = {}


@pytest.fixture(scope="module", autouse=True)
def snapshot_before():
    for folder, recursive in WATCHED.items():
        _before[folder] = listing(folder, recursive)


@pytest.fixture(scope="module")
def served(genlab_app, genlab_app_checkpoints) -> str:
    """The shared app's URL, with a listing of the checkpoints it serves taken before the first bad input."""
    _before[genlab_app_checkpoints] = listing(genlab_app_checkpoints, True)
    return genlab_app


def call_within(base: str, api_name: str, data: list) -> tuple[str, Any]:
    """`call`, failing the test when the event has not ended within HANG_SECONDS."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        return pool.submit(call, base, api_name, data).result(timeout=HANG_SECONDS)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"{api_name} did not answer within {HANG_SECONDS} s: it hangs")
    finally:
        pool.shutdown(wait=False)


def assert_server_answers(base: str) -> None:
    """A good request right after: the server still works (and decodes correctly)."""
    event, outputs = call_within(base, "decode", [VAE, [0.0] * 16])
    assert event == "complete", outputs


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """("complete", result) or ("error", message) of a handler; any other exception fails the test."""
    try:
        return "complete", fn()
    except gr.Error as e:
        return "error", e.message


def expect(result: tuple[str, Any], error: str | None) -> Any:
    """Check a handler's or the API's outcome: an error with `error` in a clear sentence, or a result."""
    event, value = result
    if error is None:
        assert event == "complete", f"expected a result, got the error {value!r}"
        return value
    assert event == "error", f"expected an error holding {error!r}, got {str(value)[:300]}"
    text = assert_clear_sentence(value)
    assert error.lower() in text.lower(), text
    return text


def like_reference(picture: torch.Tensor, reference: torch.Tensor) -> None:
    assert picture.shape == reference.shape and torch.isfinite(picture).all()
    assert 0 <= picture.min() and picture.max() <= 1
    assert (picture - reference).abs().mean() < 0.05, float((picture - reference).abs().mean())


def check_picture(case: BadFile, picture: torch.Tensor, reference: torch.Tensor) -> None:
    """A sensible result: the model's input in [0, 1], lit, and like the reference where it should be."""
    assert picture.shape == (1, 28, 28) and torch.isfinite(picture).all()
    assert picture.min() >= 0 and picture.max() == pytest.approx(1.0)
    if case.like_reference:
        like_reference(picture, reference)
    if case.name == "huge-10000x4000":  # a vertical bar: lit in the middle column, dark at the sides
        assert picture[0, 4:24, 14].mean() > 0.5 and picture[0, :, :5].max() == 0


# ----------------------------------------------------------------------------- files, in the handlers


@pytest.mark.parametrize("case", BAD_FILES, ids=lambda c: c.name)
def test_bad_file_through_the_handlers(case: BadFile, corpus, shell, reference):
    path = corpus[case.name]
    ckpt = shell.model(VAE)
    # "Upload a picture" of the Interpolate / Edit tabs and of the sliders: component, then handler.
    result = outcome(lambda: inputs.resolve(
        shell, ckpt, UPLOAD, ImageUpload().preprocess(ImageData(path=str(path), orig_name=path.name)), None, 0, 0).image)
    picture = expect(result, case.error)
    if case.error is None:
        check_picture(case, picture, reference)
    # The same file as a drawing's composite ("Use my drawing" of the VAE lesson).
    drawing = EditorData(composite=FileData(path=str(path), orig_name=path.name))
    result = outcome(lambda: lesson_vae.use_drawing(shell, VAE, Drawing().preprocess(drawing)))
    value = expect(result, case.error)
    if case.error is None:
        check_picture(case, torch.from_numpy(value[0]), reference)


# ----------------------------------------------------------------------------- files, over HTTP


@pytest.mark.parametrize("case", BAD_FILES, ids=lambda c: c.name)
def test_bad_file_over_http(case: BadFile, corpus, served, reference):
    filedata = upload(served, corpus[case.name])
    expected = np.asarray(to_pil(reference, 112).convert("L"), np.float32) / 255
    for source, args in ((UPLOAD, [filedata, None]), (DRAW, [None, {"background": None, "layers": [],
                                                                      "composite": filedata, "id": None}])):
        event, value = call_within(served, "prepare_input", [VAE, source, *args, 0, 0])
        if event == "complete" and value[0] is None:  # the preview explains in its note instead of an error
            event, value = "error", value[1]
        if case.error is None:
            assert event == "complete", value
            picture = np.asarray(fetch_image(served, value[0]).convert("L"), np.float32) / 255
            assert picture.shape == expected.shape and picture.max() == 1.0
            if case.like_reference:
                assert np.abs(picture - expected).mean() < 0.05
        else:
            expect((event, value), case.error)
    result = call_within(served, "slider_start_upload", [VAE, filedata, 50])
    if case.error is None:
        assert result[0] == "complete" and len(result[1][1]["latent"]) == 16, result
    else:
        expect(result, case.error)
    assert_server_answers(served)


def test_uploads_over_the_size_limit_are_refused(served):
    import requests

    r = requests.post(f"{served}/gradio_api/upload", timeout=HANG_SECONDS,
                      files={"files": (f"genlab-bad-{TOKEN}-big.png", os.urandom(10 * 2**20 + 1))})
    assert r.status_code == 413 and "maximum allowed size" in r.text
    # Inline pictures (data: URLs) cannot get round the limit.
    import base64

    inline = "data:image/png;base64," + base64.b64encode(b"\0" * (11 * 2**20)).decode()
    expect(call_within(served, "slider_start_upload", [VAE, {"url": inline, "meta": {"_type": "gradio.FileData"}}, 50]),
           "larger than 10 MB")
    assert_server_answers(served)


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize("case", BAD_VALUES, ids=lambda c: c.name)
def test_bad_value_over_http(case: BadValue, served):
    expect(call_within(served, case.api, case.data), case.api_error)
    assert_server_answers(served)


@pytest.mark.parametrize("case", [c for c in BAD_VALUES if c.handler is not None], ids=lambda c: c.name)
def test_bad_value_through_the_handler(case: BadValue, shell):
    expect(outcome(lambda: case.handler(shell)), case.handler_error)


def test_drawings_kept_for_later_are_bounded():
    """Browsers send a drawing's images before the event (accept_blobs); strangers could send only those."""
    from gradio.components.image_editor import AcceptBlobs

    from genlab.ui.uploads import MAX_PENDING_DRAWINGS

    drawing = Drawing()
    for i in range(MAX_PENDING_DRAWINGS + 50):
        drawing.accept_blobs(AcceptBlobs(data={"type": "composite", "index": None, "file": b"", "id": f"id-{i}"},
                                         files=[("blob", b"x" * 100)]))
    assert len(drawing.blob_storage) == MAX_PENDING_DRAWINGS
    assert f"id-{MAX_PENDING_DRAWINGS + 49}" in drawing.blob_storage and "id-0" not in drawing.blob_storage


# ----------------------------------------------------------------------------- broken checkpoints


@pytest.fixture(scope="module")
def broken_root(tmp_path_factory) -> Path:
    """Tiny good checkpoints next to one broken copy of the VAE per BROKEN_CHECKPOINTS kind."""
    root = make_tiny_checkpoints(tmp_path_factory.mktemp("broken-checkpoints"))
    for case in BROKEN_CHECKPOINTS:
        shutil.copytree(root / VAE, root / f"broken-{case.name}")
        case.breaks(root / f"broken-{case.name}")
    return root


@pytest.fixture(scope="module")
def broken_store(broken_root) -> ModelStore:
    return ModelStore.load(broken_root)


@pytest.mark.parametrize("case", BROKEN_CHECKPOINTS, ids=lambda c: c.name)
def test_a_broken_checkpoint_is_skipped_with_a_warning(case, broken_store):
    assert sorted(broken_store.models) == ["mnist-classifier", "mnist-gan-16", VAE]  # the others load
    said = [p for p in broken_store.problems if f"broken-{case.name}" in p]
    assert len(said) == 1, broken_store.problems
    assert case.problem.lower() in said[0].lower(), said[0]
    assert "Traceback" not in said[0]


def test_the_page_shows_the_skipped_checkpoints_and_refresh_finds_new_ones(broken_store, broken_root):
    from genlab.ui.app import build_app

    demo = build_app(broken_store)
    shown = " ".join(str(c.get("props", {}).get("value", "")) for c in demo.config["components"]
                     if c.get("type") == "markdown")
    for case in BROKEN_CHECKPOINTS:
        assert f"broken-{case.name}" in shown
    choices = [c for c in demo.config["components"] if c.get("props", {}).get("label") == "Model"][0]["props"]["choices"]
    assert {VAE, "mnist-gan-16"} <= {name for _, name in choices}
    # A folder broken while the app runs: "Refresh models" names it and keeps the others.
    shutil.copytree(broken_root / VAE, broken_root / "broken-later")
    (broken_root / "broken-later" / "config.json").write_text("{")
    refresh = next(f for f in demo.fns.values() if f.api_name == "refresh_models")
    dropdown, text = refresh.fn(VAE)
    assert "broken-later" in text and "not valid JSON" in text
    assert VAE in {name for _, name in dropdown.choices}


# ----------------------------------------------------------------------------- side effects (last)


def tree(folder: Path) -> list[Path]:
    """Every file and folder under `folder`, without .git and .venv."""
    found = []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in (".git", ".venv")]
        found += [Path(parent) / name for name in dirs + files]
    return found


def test_nothing_was_written_outside_the_temporary_folders(corpus):
    import gradio.utils

    for folder, before in _before.items():
        added = listing(folder, WATCHED.get(folder, True)) - before
        assert not added, f"new files in {folder}: {sorted(added)[:10]}"
    # Copies of the uploaded files (their names hold TOKEN) are only in Gradio's upload folder.
    allowed = [Path(gradio.utils.get_upload_folder()).resolve(), next(iter(corpus.values())).parent.resolve()]
    candidates = tree(REPO_ROOT) + tree(Path.cwd()) + list(Path.home().iterdir()) + list(Path(tempfile.gettempdir()).iterdir())
    strays = [p for p in candidates if TOKEN in p.name and not any(p.resolve().is_relative_to(a) for a in allowed)]
    assert not strays, strays
