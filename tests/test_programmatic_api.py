"""The HTTP API for programs (genlab/ui/programmatic.py), called as a program would: through
gradio_client (the official client) with only the essential arguments, and with bad ones."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.app_server import call, genlab_app  # noqa: F401  (the shared app on tiny MNIST checkpoints)

gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def client(genlab_app):  # noqa: F811
    return gradio_client.Client(genlab_app + "/", verbose=False)


def _is_png(path: str) -> bool:
    with Image.open(path) as picture:
        return picture.format == "PNG" and picture.size[0] > 0


def test_the_api_page_lists_the_programmatic_endpoints_not_the_ui_shaped_ones(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("/interpolate", "/edit_attribute", "/inpaint", "/compare", "/sample", "/decode"):
        assert name in named, name
    for name in ("/interpolate_ui", "/edit_attribute_ui", "/inpaint_ui"):
        assert name not in named, name
    params = {p["parameter_name"]: p for p in named["/interpolate"]["parameters"]}
    assert not params["model"]["parameter_has_default"]
    assert all(params[k]["parameter_has_default"] for k in ("seed_a", "seed_b", "image_a", "steps", "mode"))


def test_interpolate_with_a_model_and_seeds_only(client):
    strip, numbers = client.predict(model="mnist-vae-16", seed_a=1, seed_b=2, api_name="/interpolate")
    assert _is_png(strip) and numbers["steps"] == 8 and numbers["mode"] == "spherical"
    assert len(numbers["verdicts"]) == 8


def test_edit_attribute_with_a_model_only(client):
    strip, numbers = client.predict(model="mnist-gan-16", api_name="/edit_attribute")
    assert _is_png(strip) and numbers["attribute"] and len(numbers["strengths"]) == 7


def test_inpaint_with_a_model_only_and_with_an_uploaded_picture(client, tmp_path):
    fills, numbers = client.predict(model="mnist-vae-16", api_name="/inpaint")
    assert _is_png(fills) and len(numbers["sharpness"]) == 4 and numbers["mask"] == "bottom half"
    path = tmp_path / "digit.png"
    picture = Image.new("L", (40, 40), 255)
    picture.paste(0, (16, 6, 24, 34))  # a dark stroke on white: a "1", as someone would draw it
    picture.save(path)
    fills, numbers = client.predict(model="mnist-gan-16", image=gradio_client.handle_file(str(path)), fills=2,
                                    api_name="/inpaint")
    assert numbers["image"] == "the uploaded image" and len(numbers["sharpness"]) == 2


def test_compare_and_sample_with_defaults(client):
    vae, gan, numbers = client.predict(api_name="/compare")
    assert _is_png(vae) and _is_png(gan) and numbers["models"]["vae"] == "mnist-vae-16"
    grid = client.predict(model="mnist-vae-16", api_name="/sample")
    assert _is_png(grid)


def test_sample_over_plain_http_with_the_model_alone(genlab_app):  # noqa: F811
    """Omitted trailing parameters take their defaults, None ("the model's own steps") included."""
    event, data = call(genlab_app, "sample", ["mnist-vae-16"])
    assert event == "complete", data


@pytest.mark.parametrize("endpoint, arguments, fragment", [
    ("/interpolate", {"model": "no-such-model"}, "no model called"),
    ("/interpolate", {"model": "mnist-vae-16", "steps": 1000}, "Steps must be between"),
    ("/edit_attribute", {"model": "mnist-vae-16", "attribute": "curliness"}, "has no attribute"),
    ("/inpaint", {"model": "mnist-vae-16", "mask": "everything"}, "mask must be one of"),
    ("/compare", {"dataset": "cifar"}, "no dataset"),
])
def test_bad_arguments_get_one_sentence(client, endpoint, arguments, fragment):
    with pytest.raises(gradio_client.exceptions.AppError) as info:
        client.predict(**arguments, api_name=endpoint)
    message = str(info.value)
    assert fragment.lower() in message.lower() and "Traceback" not in message
