"""Tab "Edit attributes": move an image along a meaningful direction in latent space.

Directions come from the model's AttributeBank (shipped with the checkpoint, or built once by its
service): class directions ("more like a 7", "sneaker -> ankle boot"), pixel attributes measured
on decoded images (bolder, slant, ...), or the user's own attribute from two small sets of examples
(kept per user in gr.State). The shipped classifier says, under each image of the strip, which
class it sees, so the user can tell whether an edit changed the class. A model whose latent has no
attribute directions (`service.editable` False: a pixel diffusion model) gets one sentence instead.
"""

from __future__ import annotations

import re
from typing import Any

import gradio as gr
import pandas as pd
import torch
from PIL import Image, ImageDraw, ImageFont

from genlab.attributes import MEASURED_ATTRIBUTES, attribute_title
from genlab.heldout import read_heldout
from genlab.latent import DIRECTION_METHODS, attribute_direction, edit_strip, project_out
from genlab.preprocess import PreprocessError, prepare_image, style_for
from genlab.service import INVERSION_STEPS, MAX_INVERSION_STEPS, ModelService
from genlab.ui.images import picture, to_pil
from genlab.ui.inputs import build_picker, dataset_gallery, gallery_indices, gradio_progress, resolve, to_latents
from genlab.ui.uploads import IMAGE_FILE_TYPES
from genlab.ui.shell import HEAVY, Shell, dataset_argument, user_error

MAX_STRENGTH = 6.0
MIN_STRIP, MAX_STRIP = 3, 15
MAX_EXAMPLES = 64  # per group, for a user-defined attribute
MAX_CUSTOM_ATTRIBUTES = 16  # kept per user and model (in the session); the oldest goes first
EXAMPLE_GALLERY_SIZE = 40
CUSTOM_PREFIX = "custom:"
DEFAULT_ATTRIBUTE = "thickness"
VERDICT_COLUMNS = ["strength", "the classifier says", "how sure"]
METHOD_NAMES = {"mean-difference": "difference of means", "linear-boundary": "linear boundary (InterFaceGAN)"}
METHOD_LABELS = [(label[0].upper() + label[1:], method) for method, label in METHOD_NAMES.items()]


# ----------------------------------------------------------------------------- choices


def choices_for(shell: Shell, service: ModelService, custom: dict | None) -> list[tuple[str, str]]:
    """(label, value) of every attribute offered for the model: the user's own, pixel ones, classes.

    Class directions are offered for the classes the model's bank has examples of (true labels of
    encoded test images for a VAE, the classifier's verdicts on samples for a GAN).
    """
    bank = shell.serve(service.attribute_bank)
    out = [(f"Your attribute: {name}", CUSTOM_PREFIX + name) for name in sorted((custom or {}).get(service.name, {}))]
    names = bank.names()
    out += [(f"{attribute_title(name)}: {' → '.join(bank.ends(name))}", name) for name in names
            if not name.startswith("class:")]
    classes = [int(n.split(":", 1)[1]) for n in names if n.startswith("class:")]
    out += [(f"More like “{bank.class_name(k)}”", f"class:{k}") for k in classes]
    out += [(f"{bank.class_name(a)} → {bank.class_name(b)}", f"class:{a}->{b}")
            for a in classes for b in classes if a != b]
    return out


def pick_attribute(shell: Shell, model_name: Any, current: Any, custom: dict | None) -> tuple[list, str]:
    """(choices, value) of the attribute dropdown for a model: the current pick if offered, else the default
    (none for a model without attribute directions)."""
    service = shell.model(model_name)
    if not service.editable:
        return [], None
    choices = choices_for(shell, service, custom)
    values = [v for _, v in choices]
    default = shell.first_views.edit_attribute
    pairs = [v for v in values if "->" in v]  # a folder's model opens on its first class pair ("cats -> dogs")
    value = current if current in values else (default if default in values else
                                               DEFAULT_ATTRIBUTE if DEFAULT_ATTRIBUTE in values else
                                               pairs[0] if pairs else values[0])
    return choices, value


def attribute_choices(shell: Shell, model_name: Any, current: Any, custom: dict | None):
    """The `attribute_choices` endpoint: the attribute dropdown for a model (keeps the pick if offered)."""
    choices, value = pick_attribute(shell, model_name, current, custom)
    return gr.Dropdown(choices=choices, value=value)


def about_attributes(shell: Shell, model_name: Any) -> str:
    """Where the attributes of a model trained on a user's folder come from, in a sentence or three
    ("" for a model of a built-in dataset): its classes (the folder's sub-folders, or why there are
    none), and what to run for the classifier's verdicts when there is none."""
    service = shell.store.services.get(model_name) if model_name else None
    if service is None or not service.editable or read_heldout(service.path) is None:
        return ""
    folder = dataset_argument(service.dataset, service.image_shape)
    classes = service.class_names
    if len(classes) < 2:
        lines = [f"{service.name} was trained on a folder without sub-folders, so it has no classes to edit "
                 "towards: the measured attributes and your own are offered. For class attributes (“cats → "
                 "dogs”), put each kind of picture in a sub-folder of its own and train again."]
    else:
        lines = [f"Classes from the sub-folders of {service.dataset}: {', '.join(classes)}; the measured attributes "
                 "are those of photographs."]
        if not service.has_encoder and service.classifier is None and not service.conditional:
            lines.append("The GAN's class directions come from its held-out pictures, found by inversion.")
    if service.classifier is None:
        lines.append(f"For the classifier's verdict under each picture, train one with "
                     f"`python train/classifier.py --dataset {folder}` and press ↻ Refresh models.")
    return " ".join(lines)


# ----------------------------------------------------------------------------- directions


def _method(value: Any) -> str:
    if value not in DIRECTION_METHODS:
        raise user_error(f"Method must be one of {', '.join(DIRECTION_METHODS)}, got {value!r}.")
    return value


def direction_for(shell: Shell, service: ModelService, attribute: Any, method: str, conditional: bool,
                  custom: dict | None) -> torch.Tensor:
    """The unit direction (D,) of `attribute` in the model's latent space."""
    if not attribute:
        raise user_error("Pick an attribute first.")
    attribute = str(attribute)
    bank = shell.serve(service.attribute_bank)
    try:
        if attribute.startswith(CUSTOM_PREFIX):
            name = attribute[len(CUSTOM_PREFIX):]
            examples = (custom or {}).get(service.name, {}).get(name)
            if examples is None:
                raise user_error(f"There is no attribute called {name!r} for {service.name}: define it first "
                                 "(attributes you define belong to the model they were defined with).")
            direction = attribute_direction(examples["latents"], examples["positive"], method=method)
            if conditional:
                direction = project_out(direction, bank.class_subspace())
            return direction
        # "Keep the class" means nothing for a class direction: the checkbox applies to attributes only.
        keep_class = bool(conditional) and attribute in MEASURED_ATTRIBUTES
        return bank.direction(attribute, method=method, conditional=keep_class)
    except (ValueError, KeyError) as e:
        message = e.args[0] if e.args else str(e)
        raise user_error(f"Cannot edit {attribute!r} with {service.name}: {message}") from None


# ----------------------------------------------------------------------------- the verdicts


def captioned_strip(images: torch.Tensor, captions: list[list[str]], cell: int = 96, pad: int = 4) -> Image.Image:
    """images (T, C, H, W) in a row, each with lines of text under it."""
    font = ImageFont.load_default(size=11)
    lines = max(len(c) for c in captions)
    text_h = 14 * lines + 4
    t = images.shape[0]
    canvas = Image.new("RGB", (t * (cell + pad) + pad, cell + text_h + 2 * pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i in range(t):
        x = pad + i * (cell + pad)
        canvas.paste(to_pil(images[i], cell).convert("RGB").resize((cell, cell), Image.Resampling.NEAREST), (x, pad))
        for j, line in enumerate(captions[i]):
            width = draw.textlength(line, font=font)
            draw.text((x + (cell - width) / 2, pad + cell + 3 + 14 * j), line, fill="black", font=font)
    return canvas


# ----------------------------------------------------------------------------- endpoints


def edit_attribute(shell: Shell, model_name: Any, source: Any, upload: Any, drawing: Any, test_index: Any,
                   seed: Any, attribute: Any, method: Any, conditional: Any, strength: Any, strip_steps: Any,
                   inversion_steps: Any, custom: dict | None, progress: Any = None):
    """The `edit_attribute` endpoint: the picked image, its edit at `strength`, and a strip -strength..+strength.
    A model without attribute directions gets empty pictures and one sentence saying so."""
    service = shell.model(model_name)
    if not service.editable:
        return None, None, None, None, pd.DataFrame(columns=VERDICT_COLUMNS), service.no_edits()
    method = _method(method)
    strength = shell.number(strength, "Strength", -MAX_STRENGTH, MAX_STRENGTH)
    strip_steps = shell.int_in_range(strip_steps, "Images in the strip", MIN_STRIP, MAX_STRIP)
    inversion_steps = shell.int_in_range(inversion_steps, "GAN inversion steps", 10, MAX_INVERSION_STEPS)
    endpoint = resolve(shell, service, source, upload, drawing, test_index, seed, what="the image to edit")
    direction = direction_for(shell, service, attribute, method, bool(conditional), custom)
    report = gradio_progress(progress, f"Inverting {service.name}") if progress is not None else None
    found = to_latents(shell, service, [endpoint], inversion_steps, report)
    z = found.latents[0]
    path = edit_strip(z, direction, strength, strip_steps)
    frames = service.decode(path)
    edited = service.decode((z + strength * direction)[None])[0]
    amounts = torch.linspace(-strength, strength, strip_steps).tolist()

    said = service.verdicts(torch.cat([found.reconstructions, edited[None], frames]))
    captions = [[f"{a:+.2f}"] for a in amounts]
    # The verdicts as a table a student reads (the API for programs gives them as numbers).
    table = pd.DataFrame({VERDICT_COLUMNS[0]: [f"{a:+.2f}" for a in amounts],
                          VERDICT_COLUMNS[1]: ["–"] * len(amounts), VERDICT_COLUMNS[2]: ["–"] * len(amounts)})
    if said is not None:
        before, after, per_frame = said[0], said[1], said[2:]
        for caption, (name, p) in zip(captions, per_frame):
            caption.append(f"{name} {p:.0%}")
        table[VERDICT_COLUMNS[1]] = [n for n, _ in per_frame]
        table[VERDICT_COLUMNS[2]] = [f"{p:.0%}" for _, p in per_frame]
        verdict = (f"The classifier sees **{before[0]}** ({before[1]:.0%}) before and **{after[0]}** "
                   f"({after[1]:.0%}) after the edit" + (" — the class changed." if before[0] != after[0] else "."))
    else:
        verdict = (f"There is no classifier for {service.dataset}, so no verdicts: train one with "
                   f"`python train/classifier.py --dataset {dataset_argument(service.dataset, service.image_shape)}` and press ↻ Refresh models.")
    error = found.errors[0]
    if str(attribute).startswith(CUSTOM_PREFIX):
        label = f"your attribute “{str(attribute)[len(CUSTOM_PREFIX):]}”"
        kept = bool(conditional)
    else:
        low, high = shell.serve(service.attribute_bank).ends(str(attribute))
        label, kept = f"{low} → {high}", bool(conditional) and attribute in MEASURED_ATTRIBUTES
    info = (f"**{service.name}**: {label}, {METHOD_NAMES[method]}"
            f"{', keeping the class' if kept else ''}, strength {strength:+g}. {found.how}"
            + ("" if error is None else f" Reconstruction error: MSE {error:.4f}.") + f"  \n{verdict}")
    return (to_pil(endpoint.image, 112), to_pil(found.reconstructions[0], 112), to_pil(edited, 224),
            captioned_strip(frames, captions), table, info)


def _parse_indices(text: Any, what: str, limit: int) -> list[int]:
    if text is None or not str(text).strip():
        return []
    parts = [p for p in re.split(r"[\s,;]+", str(text).strip()) if p]
    out = []
    for p in parts:
        if not re.fullmatch(r"#?\d+", p):
            raise user_error(f"The {what} must be test image numbers separated by commas; {p!r} is not one.")
        i = int(p.lstrip("#"))
        if i >= limit:
            raise user_error(f"There is no test image #{i} (the {what} must be below {limit}).")
        out.append(i)
    return list(dict.fromkeys(out))  # each once, in order


def _example_images(shell: Shell, service: ModelService, indices_text: Any, files: Any, what: str) -> torch.Tensor:
    """The examples of one group as (N, C, H, W): test images by number plus uploads."""
    channels, size, _ = service.image_shape
    data = shell.test_images(service)
    images = [data.images[i] for i in _parse_indices(indices_text, what, len(data))]
    for f in files or []:
        path = f if isinstance(f, str) else getattr(f, "name", None) or (f.get("path") if isinstance(f, dict) else None)
        try:
            images.append(prepare_image(path, image_size=size, channels=channels, style=style_for(service.dataset)))
        except PreprocessError as e:
            raise user_error(f"One of the {what} cannot be used: {e}") from None
    if len(images) > MAX_EXAMPLES:
        raise user_error(f"Use at most {MAX_EXAMPLES} {what}; got {len(images)}.")
    return torch.stack(images) if images else torch.zeros((0, channels, size, size))


def define_attribute(shell: Shell, model_name: Any, name: Any, positives: Any, negatives: Any,
                     positive_files: Any, negative_files: Any, inversion_steps: Any, custom: dict | None,
                     progress: Any = None):
    """The `define_attribute` endpoint: a named attribute from examples with it and without it.

    Stores the examples' latents (per user, per model); the direction is found at edit time with
    the method then chosen. Returns the new state, the attribute dropdown (on the new attribute), a note.
    """
    service = shell.model(model_name)
    if not service.editable:
        return custom, gr.Dropdown(choices=[], value=None), service.no_edits()
    name = str(name or "").strip()
    if not name or len(name) > 40 or not re.fullmatch(r"[\w .'-]+", name):
        raise user_error("Give the attribute a short name (letters, digits, spaces, . ' -; at most 40).")
    inversion_steps = shell.int_in_range(inversion_steps, "GAN inversion steps", 10, MAX_INVERSION_STEPS)
    pos = _example_images(shell, service, positives, positive_files, "examples with the attribute")
    neg = _example_images(shell, service, negatives, negative_files, "examples without it")
    if len(pos) < 2 or len(neg) < 2:
        raise user_error(f"Pick at least 2 examples with the attribute and 2 without it "
                         f"(got {len(pos)} and {len(neg)}).")
    images = torch.cat([pos, neg])
    report = gradio_progress(progress, f"Inverting {len(images)} examples") if progress is not None else None
    latents = shell.serve(service.to_latents, images, inversion_steps, report).latents
    how = "encoded" if service.has_encoder else f"inverted ({inversion_steps} steps)"
    positive = torch.cat([torch.ones(len(pos), dtype=torch.bool), torch.zeros(len(neg), dtype=torch.bool)])
    custom = {m: dict(attrs) for m, attrs in (custom or {}).items()}
    mine = custom.setdefault(service.name, {})
    mine.pop(name, None)  # defined again: it becomes the newest
    mine[name] = {"latents": latents.cpu(), "positive": positive}
    while len(mine) > MAX_CUSTOM_ATTRIBUTES:
        mine.pop(next(iter(mine)))
    dropdown = attribute_choices(shell, model_name, CUSTOM_PREFIX + name, custom)
    note = (f"Defined **{name}** for {service.name} from {len(pos)} examples with it and {len(neg)} without "
            f"({how}). Pick it above and edit.")
    return custom, dropdown, note


# ----------------------------------------------------------------------------- layout


def build(shell: Shell) -> None:
    gr.Markdown(
        "Pick an image and an attribute, then push the image's latent along the attribute's direction. "
        "The strip goes from −strength to +strength; the classifier's verdict under each image shows "
        "whether the edit changed the class. *Conditional* removes the class directions from the "
        "attribute's direction, so that “bolder” keeps the digit."
    )
    custom = gr.State({})
    with gr.Row():
        with gr.Column(scale=1):
            views = shell.first_views
            picker = build_picker(shell, "Image to edit", default_seed=views.edit_seed, elem_id="genlab-edit-image")
        with gr.Column(scale=2):
            attribute = gr.Dropdown([], label="Attribute", filterable=True, allow_custom_value=True,
                                    elem_id="genlab-attribute")
            about = gr.Markdown("", elem_id="genlab-attribute-about")
            with gr.Row():
                method = gr.Radio(METHOD_LABELS, value="mean-difference", label="Direction from")
                conditional = gr.Checkbox(views.edit_conditional, label="Conditional (keep the class)")
            with gr.Row():
                strength = gr.Slider(-MAX_STRENGTH, MAX_STRENGTH, value=2.5, step=0.1, label="Strength",
                                     elem_id="genlab-strength")
                strip_steps = gr.Slider(MIN_STRIP, MAX_STRIP, value=7, step=1, label="Images in the strip")
                inversion_steps = gr.Slider(10, MAX_INVERSION_STEPS, value=INVERSION_STEPS, step=10,
                                            label="GAN inversion steps")
            edit_button = gr.Button("Edit", variant="primary", elem_id="genlab-edit-button")
            with gr.Row():
                before = picture("What the model sees", height=150)
                reconstruction = picture("The model's version", height=150)
                edited = picture("Edited", height=150, elem_id="genlab-edited")
            strip = gr.Image(label="From −strength to +strength, with the classifier's verdict", format="png",
                             type="pil", interactive=False, buttons=["download"], elem_id="genlab-edit-strip")
            info = gr.Markdown("")
            table = gr.DataFrame(headers=VERDICT_COLUMNS, label="The classifier's verdict on each image of the strip",
                                 interactive=False, wrap=True)

    with gr.Accordion("Define your own attribute from examples", open=False):
        gr.Markdown("Pick a few test images that have the attribute and a few that do not (click them, or "
                    "type their numbers), or upload some. The attribute's direction points from the ones "
                    "without it to the ones with it.")
        with gr.Row():
            new_name = gr.Textbox(label="Name", placeholder="e.g. curly", scale=1)
            click_adds = gr.Radio(["with the attribute", "without it"], value="with the attribute",
                                  label="A click on a test image adds it to the examples", scale=2)
        examples_gallery = gr.Gallery(label="Test images", columns=10, height=260, allow_preview=False,
                                      format="png", interactive=False, object_fit="contain", buttons=[])
        with gr.Row():
            positives = gr.Textbox(label="Test images with the attribute (numbers)", placeholder="e.g. 3, 17, 42")
            negatives = gr.Textbox(label="Test images without it (numbers)", placeholder="e.g. 5, 8, 23")
        with gr.Row():
            positive_files = gr.File(label="Or upload examples with it", file_count="multiple",
                                     file_types=IMAGE_FILE_TYPES, type="filepath")
            negative_files = gr.File(label="Or upload examples without it", file_count="multiple",
                                     file_types=IMAGE_FILE_TYPES, type="filepath")
        define_button = gr.Button("Define attribute")
        define_note = gr.Markdown("")

    # -- events ------------------------------------------------------------------------
    def choices_event(model_name, current, custom_state):
        return attribute_choices(shell, model_name, current, custom_state)

    # On a model change (the dropdown keeps its pick when the new model offers it); on load, below.
    shell.model_picker.change(choices_event, [shell.model_picker, attribute, custom], attribute,
                              api_name="attribute_choices", show_progress="hidden")

    def edit_event(model_name, source, upload, drawing, test_index, seed, attribute_value, method_value,
                   conditional_value, strength_value, strip_value, inversion_value, custom_state,
                   progress=gr.Progress()):
        return edit_attribute(shell, model_name, source, upload, drawing, test_index, seed, attribute_value,
                              method_value, conditional_value, strength_value, strip_value, inversion_value,
                              custom_state, progress=progress)

    edit_inputs = [shell.model_picker, *picker.inputs, attribute, method, conditional, strength, strip_steps,
                   inversion_steps, custom]
    edit_outputs = [before, reconstruction, edited, strip, table, info]
    edit_button.click(edit_event, edit_inputs, edit_outputs, api_name="edit_attribute_ui",
                      api_visibility="undocumented")

    def first_visit(model_name, source, upload, drawing, test_index, seed, attribute_value, method_value,
                    conditional_value, strength_value, strip_value, inversion_value, custom_state):
        """On load: the attribute list, and an edit of the picker's default (a random sample) to show the idea."""
        choices, value = pick_attribute(shell, model_name, attribute_value, custom_state)
        return (gr.Dropdown(choices=choices, value=value),
                *edit_attribute(shell, model_name, source, upload, drawing, test_index, seed, value, method_value,
                                conditional_value, strength_value, strip_value, inversion_value, custom_state))

    shell.on_load(first_visit, edit_inputs, [attribute, *edit_outputs])

    def define_event(model_name, name, pos, neg, pos_files, neg_files, inversion_value, custom_state,
                     progress=gr.Progress()):
        return define_attribute(shell, model_name, name, pos, neg, pos_files, neg_files, inversion_value,
                                custom_state, progress=progress)

    define_button.click(define_event, [shell.model_picker, new_name, positives, negatives, positive_files,
                                       negative_files, inversion_steps, custom],
                        [custom, attribute, define_note], api_name="define_attribute", **HEAVY)

    def fill_examples(model_name):
        return dataset_gallery(shell, model_name, EXAMPLE_GALLERY_SIZE)

    def edit_note(model_name):
        """A model without attribute directions says so where the edit's note goes (else the note clears)."""
        service = shell.store.services.get(model_name) if model_name else None
        return service.no_edits() if service is not None and not service.editable else ""

    shell.on_model_change(edit_note, [shell.model_picker], info)

    shell.on_model_change(fill_examples, [shell.model_picker], examples_gallery)

    def about_event(model_name):
        return about_attributes(shell, model_name)

    shell.on_model_change(about_event, [shell.model_picker], about)

    def add_example(model_name, target, pos, neg, evt: gr.SelectData):
        data = shell.test_images(shell.model(model_name))
        index = str(gallery_indices(data.labels, EXAMPLE_GALLERY_SIZE)[evt.index])

        def add(text):
            items = [p for p in re.split(r"[\s,;]+", text or "") if p]
            return ", ".join(items if index in items else items + [index])

        return (add(pos), neg) if target == "with the attribute" else (pos, add(neg))

    examples_gallery.select(add_example, [shell.model_picker, click_adds, positives, negatives],
                            [positives, negatives], api_visibility="private")
