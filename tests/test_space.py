"""The repository is a Hugging Face Space as it stands: front matter, launch flags, checkpoint sizes.

The Space reads the YAML block at the top of README.md, installs requirements.txt, runs
`app_file` with GRADIO_SERVER_NAME=0.0.0.0 set, and refuses files over 10 MB that are not
stored with Git LFS/Xet (so the shipped checkpoints stay under that, and small in total).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import PYTHON, REPO_ROOT, SUBPROCESS_ENV

# The Hub's thumbnail colours and its limit on short_description (Spaces configuration reference).
SPACE_COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
SHORT_DESCRIPTION_MAX = 60
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_CHECKPOINTS_BYTES = 100 * 1024 * 1024
LAUNCH_FLAGS = ["--host", "--port", "--share", "--checkpoints", "--device", "--hub"]


@pytest.fixture(scope="module")
def front_matter() -> dict:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n"), "README.md must start with the Space's YAML front matter"
    end = text.index("\n---\n", 4)
    meta = yaml.safe_load(text[4:end])
    assert isinstance(meta, dict)
    return meta


def pinned_gradio() -> str:
    path = REPO_ROOT / "requirements.txt"
    if not path.is_file():
        pytest.skip("requirements.txt is not written yet")
    match = re.search(r"^gradio(?:==|~=)([\w.]+)\s*$", path.read_text(), flags=re.MULTILINE)
    assert match, "requirements.txt must name gradio's version (== or ~=)"
    return match.group(1)


def test_front_matter_describes_the_space(front_matter):
    assert isinstance(front_matter["title"], str) and front_matter["title"].strip()
    emoji = front_matter["emoji"]
    assert isinstance(emoji, str) and emoji and not any(c.isascii() for c in emoji), "emoji-only"
    assert front_matter["colorFrom"] in SPACE_COLORS
    assert front_matter["colorTo"] in SPACE_COLORS
    assert front_matter["sdk"] == "gradio"
    assert front_matter["license"] and isinstance(front_matter["license"], str)
    description = front_matter["short_description"]
    assert isinstance(description, str) and 0 < len(description) <= SHORT_DESCRIPTION_MAX
    tags = front_matter["tags"]
    assert isinstance(tags, list) and tags and all(isinstance(t, str) and t for t in tags)


def test_app_file_exists(front_matter):
    app_file = front_matter["app_file"]
    assert app_file == "app.py"
    assert (REPO_ROOT / app_file).is_file()


def test_sdk_version_is_the_pinned_gradio(front_matter):
    assert str(front_matter["sdk_version"]) == pinned_gradio()


# --------------------------------------------------------------------------- launch flags


@pytest.fixture(scope="module")
def app_module():
    import app  # noqa: PLC0415 - imports gradio, so only the tests that need it pay for it

    return app


@pytest.mark.slow
def test_help_lists_the_launch_flags():
    result = subprocess.run([PYTHON, "app.py", "--help"], cwd=REPO_ROOT, env=SUBPROCESS_ENV,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for flag in LAUNCH_FLAGS:
        assert flag in result.stdout


def test_default_host_is_local_only(app_module, monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    args = app_module.parse_args([])
    assert args.host == "127.0.0.1" and args.port == 7860
    assert not args.share and args.device == "cpu" and args.hub == []


def test_gradio_server_variables_are_honoured(app_module, monkeypatch):
    """A Space sets GRADIO_SERVER_NAME=0.0.0.0; flags still win over the variables."""
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    args = app_module.parse_args([])
    assert (args.host, args.port) == ("0.0.0.0", 7861)
    args = app_module.parse_args(["--host", "127.0.0.1", "--port", "9000"])
    assert (args.host, args.port) == ("127.0.0.1", 9000)


def test_hub_flag_repeats(app_module):
    args = app_module.parse_args(["--hub", "a/one", "--hub", "b/two"])
    assert args.hub == ["a/one", "b/two"]


# --------------------------------------------------------------------------- shipped checkpoints


def shipped_files() -> list[Path]:
    """Files under checkpoints/ that a push of this repository would carry (tracked or not ignored)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "checkpoints"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True,
        ).stdout.split("\0")
        return [REPO_ROOT / p for p in listed if p and (REPO_ROOT / p).is_file()]
    except (OSError, subprocess.SubprocessError):  # not a git checkout: apply .gitignore's rules by hand
        root = REPO_ROOT / "checkpoints"
        return [p for p in root.rglob("*") if p.is_file() and p.name != "training_state.safetensors"
                and not p.name.endswith(".tmp") and not p.name.startswith(".")]


@pytest.mark.shipped
def test_shipped_checkpoints_fit_a_space():
    files = shipped_files()
    if not any(p.name == "model.safetensors" for p in files):
        pytest.skip("no shipped checkpoints yet (still training)")
    too_big = [f"{p.relative_to(REPO_ROOT)} ({p.stat().st_size / 2**20:.1f} MB)" for p in files
               if p.stat().st_size > MAX_FILE_BYTES]
    assert not too_big, f"files over 10 MB: {too_big}"
    total = sum(p.stat().st_size for p in files)
    assert total < MAX_CHECKPOINTS_BYTES, f"checkpoints/ ships {total / 2**20:.1f} MB"
    assert not any(p.name == "training_state.safetensors" for p in files), "optimizer state must stay local"
