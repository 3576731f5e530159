"""First views are computed once at start-up and shipped in the page's config (issue 26): a page open
queues no event. These tests fail if a Gradio upgrade changes how a component's initial value or
an update's settings reach the config (genlab/ui/first_view.py relies on both)."""

from __future__ import annotations

import gradio as gr
import pytest
from PIL import Image

from genlab.ui import first_view
from genlab.ui.app import build_app
from genlab.store import ModelStore
from tests.app_server import make_tiny_checkpoints


@pytest.fixture(scope="module")
def app_config(tmp_path_factory):
    root = make_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"))
    demo = build_app(ModelStore.load(root))
    return demo, demo.get_config_file()


def _by_elem_id(config: dict, elem_id: str) -> dict:
    found = [c for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id]
    assert found, f"no component #{elem_id}"
    return found[0]


def test_a_page_open_queues_no_event(app_config):
    _, config = app_config
    on_load = [d for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"])]
    # Only the link reader runs on load, and in the browser alone (no function on the server).
    assert [d for d in on_load if d.get("backend_fn")] == [], [d.get("api_name") for d in on_load]
    assert len(on_load) <= 1 and all(d.get("js") for d in on_load)


def test_the_first_views_are_in_the_page(app_config):
    _, config = app_config
    for elem_id in ("genlab-interpolation-strip", "genlab-edited", "genlab-edit-strip"):
        value = _by_elem_id(config, elem_id)["props"].get("value")
        assert value and value.get("url"), f"#{elem_id} has no first view"
    attribute = _by_elem_id(config, "genlab-attribute")["props"]
    assert len(attribute["choices"]) >= 5 and attribute["value"], attribute
    # The brush of Inpainting starts on the default picture, and the hole's preview is shown.
    mask = _by_elem_id(config, "genlab-inpaint-mask")["props"]["value"]
    assert mask and mask.get("background"), mask


def test_set_initial_takes_a_value_an_update_and_a_state():
    with gr.Blocks():
        image = gr.Image(type="pil")
        dropdown = gr.Dropdown(choices=["a"], value="a")
        state = gr.State({})
    first_view.set_initial(image, Image.new("L", (4, 4), 255))
    assert image.value and image.value["url"] and image.value["path"] in image.keep_in_cache
    first_view.set_initial(dropdown, gr.Dropdown(choices=["x", "y"], value="y"))
    assert dropdown.value == "y" and [c[1] for c in dropdown.choices] == ["x", "y"]
    assert dropdown.get_config()["choices"] == [("x", "x"), ("y", "y")]
    first_view.set_initial(state, {"k": 1})
    assert state.value == {"k": 1}


def test_a_failing_first_view_leaves_the_default_and_says_why():
    with gr.Blocks():
        text = gr.Markdown("default")

    def broken(_):
        raise gr.Error("no model")

    problems = first_view.bake([(broken, [text], text)])
    assert text.value == "default" and problems and "no model" in problems[0]


def test_the_queue_is_bounded_and_heavy_searches_share_one_group(app_config):
    from genlab.ui.shell import (FILL_CONCURRENCY, HEAVY_CONCURRENCY, LIGHT_CONCURRENCY, QUEUE_MAX_SIZE,
                                 configure_queue)

    demo, _ = app_config
    configure_queue(demo)
    assert demo._queue.max_size == QUEUE_MAX_SIZE
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    for name in ("define_attribute", "gan_inversion", "slider_start_dataset", "slider_start_upload"):
        assert by_name[name].concurrency_id == "heavy" and by_name[name].concurrency_limit == HEAVY_CONCURRENCY, name
    for name in ("inpaint_ui", "inpaint"):  # many wait at once: their fills are searched together
        assert by_name[name].concurrency_id == "fills" and by_name[name].concurrency_limit == FILL_CONCURRENCY, name
    assert by_name["sample"].concurrency_id != "heavy"
    assert by_name["sample"].concurrency_limit in (LIGHT_CONCURRENCY, "default")


def test_the_first_views_add_nothing_to_the_page(app_config):
    """Updates that handlers return (gr.Dropdown(choices=...)) must not be drawn as components of their own."""
    _, config = app_config
    kinds = {c["id"]: c["type"] for c in config["components"]}
    top = [kinds[c["id"]] for c in config["layout"]["children"]]
    after_tabs = top[top.index("tabs") + 1:]
    assert set(after_tabs) <= {"api"}, f"components were drawn on the page after the tabs: {after_tabs}"
