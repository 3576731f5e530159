"""Export a VAE decoder or a GAN generator as compact JSON that the browser can run.

The "Latent sliders" tab decodes in the browser (genlab/ui/static/decoder.js), so an image follows
a slider within a frame instead of a round trip to the server. The export is a flat layer list:

    {"format": "genlab-webdecoder", "version": 1, "kind": "vae", "latent_dim": 16,
     "output_shape": [1, 28, 28],
     "layers": [{"type": "linear", "in_features": 16, "out_features": 256,
                 "weight": "<base64 float32 LE>", "bias": "<base64>"},
                {"type": "silu"},
                {"type": "reshape", "shape": [64, 7, 7]},
                {"type": "conv_transpose2d", "in_channels": 64, "out_channels": 32, "kernel_size": 4,
                 "stride": 2, "padding": 1, "weight": "<(in, out, k, k)>", "bias": "<base64>"},
                ..., {"type": "sigmoid"}]}

Weights are little-endian float32, base64 encoded, in PyTorch's own layouts (Linear: (out, in);
ConvTranspose2d: (in, out, k, k); Conv2d 3x3: (out, in, k, k)). Eval-mode BatchNorm after any of them is
folded into that layer, so the browser never sees a BatchNorm. `run_exported` runs the JSON with
PyTorch, a reference for the JavaScript and for the folding.

A GAN that reads its class from the latent (GANConfig.classes_from_latent) starts with
{"type": "latent_class", "classes": k}: it appends the one-hot of argmax(z[:k]) to z, and the
first Linear takes both (its class columns are the class embedding, already multiplied in).
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.gan import GAN, Generator
from genlab.models.vae import VAE

FORMAT = "genlab-webdecoder"
VERSION = 1


class LatentClassOneHot(nn.Module):
    """z (B, D) -> (B, D + k): z followed by the one-hot of argmax(z[:, :k]), the class a
    classes_from_latent generator draws."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.classes = classes

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, F.one_hot(z[:, :self.classes].argmax(1), self.classes).to(z.dtype)], dim=1)


def _class_input_layers(generator: Generator) -> list[nn.Module]:
    """[LatentClassOneHot, Linear(D + k -> F)] equal to the generator's latent + class-embedding
    input and its first Linear: W [z; E[c]] = W_z z + (W_e E^T) onehot(c)."""
    linear = generator.project[0]
    d, k = generator.config.latent_dim, generator.config.num_classes
    embedding = generator.class_embedding.weight  # (k, D)
    merged = nn.Linear(d + k, linear.out_features, bias=linear.bias is not None)
    with torch.no_grad():
        merged.weight.copy_(torch.cat([linear.weight[:, :d], linear.weight[:, d:] @ embedding.T], dim=1))
        if linear.bias is not None:
            merged.bias.copy_(linear.bias)
    return [LatentClassOneHot(k), merged]


class WebDecoderError(ValueError):
    """The model cannot be exported for the browser (the message says why)."""


# -- BatchNorm folding ------------------------------------------------------------------------------

@torch.no_grad()
def fold_batchnorm(layer: nn.Linear | nn.ConvTranspose2d | nn.Conv2d, bn: nn.BatchNorm1d | nn.BatchNorm2d) -> nn.Module:
    """A copy of `layer` whose output equals eval-mode `bn(layer(x))`.

    bn(y) = gamma * (y - mean) / sqrt(var + eps) + beta = s * y + (beta - s * mean), with
    s = gamma / sqrt(var + eps) per output feature / channel. Computed in float64.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise WebDecoderError("BatchNorm without running statistics cannot be folded.")
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    shift = bn.bias.double() - scale * bn.running_mean.double()
    folded = copy.deepcopy(layer)
    w = layer.weight.double()
    if isinstance(layer, nn.Linear):  # weight (out, in)
        new_w = w * scale[:, None]
    elif isinstance(layer, nn.ConvTranspose2d):  # weight (in, out, k, k)
        new_w = w * scale[None, :, None, None]
    elif isinstance(layer, nn.Conv2d):  # weight (out, in, k, k)
        new_w = w * scale[:, None, None, None]
    else:
        raise WebDecoderError(f"Cannot fold BatchNorm into {type(layer).__name__}.")
    old_b = layer.bias.double() if layer.bias is not None else torch.zeros_like(scale)
    folded.weight = nn.Parameter(new_w.float(), requires_grad=False)
    folded.bias = nn.Parameter((old_b * scale + shift).float(), requires_grad=False)
    return folded


# -- the decoder as a flat list of modules -----------------------------------------------------------

def _flat(modules: nn.Module) -> list[nn.Module]:
    return [m for m in modules.modules() if not isinstance(m, nn.Sequential)]


def decoder_layers(model: nn.Module) -> tuple[list[Any], list[int]]:
    """(layers, output_shape): the decoding path of a VAE or a GAN as modules and ("reshape", shape).

    BatchNorms are already folded; the last layer is the sigmoid giving pixels in [0, 1].
    """
    if isinstance(model, GAN):
        model = model.generator
    if isinstance(model, VAE):
        c = model.config
        head = _flat(model.from_latent)
        reshape = ("reshape", list(model.top_shape))
        body = _flat(model.decoder)
    elif isinstance(model, Generator):
        c = model.config
        if c.needs_labels:
            raise WebDecoderError("Class-conditional generators cannot be decoded in the browser yet.")
        head = _flat(model.project)
        if c.num_classes:  # the class comes from z: see LatentClassOneHot
            head = _class_input_layers(model) + head[1:]
        reshape = ("reshape", list(model.top_shape))
        body = _flat(model.blocks)
    else:
        raise WebDecoderError(f"Only a VAE or a GAN can be exported, not a {type(model).__name__}.")
    layers: list[Any] = []
    for m in [*head, reshape, *body, nn.Sigmoid()]:
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if not layers or not isinstance(layers[-1], (nn.Linear, nn.ConvTranspose2d, nn.Conv2d)):
                raise WebDecoderError("A BatchNorm must follow a Linear or convolution layer.")
            layers[-1] = fold_batchnorm(layers[-1], m)
        else:
            layers.append(m)
    return layers, [c.channels, c.image_size, c.image_size]


# -- JSON export ----------------------------------------------------------------------------------

def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.detach().cpu().float().contiguous().numpy().astype("<f4").tobytes()).decode("ascii")


def _unb64(s: str, shape: list[int]) -> torch.Tensor:
    arr = np.frombuffer(base64.b64decode(s), dtype="<f4")
    if arr.size != int(np.prod(shape)):
        raise WebDecoderError(f"A weight has {arr.size} values but its shape {shape} needs {int(np.prod(shape))}.")
    return torch.from_numpy(arr.astype(np.float32).reshape(shape))


def _layer_json(m: Any) -> dict[str, Any]:
    if isinstance(m, tuple) and m[0] == "reshape":
        return {"type": "reshape", "shape": list(m[1])}
    if isinstance(m, LatentClassOneHot):
        return {"type": "latent_class", "classes": m.classes}
    if isinstance(m, nn.Linear):
        return {"type": "linear", "in_features": m.in_features, "out_features": m.out_features,
                "weight": _b64(m.weight), "bias": _b64(m.bias) if m.bias is not None else None}
    if isinstance(m, nn.ConvTranspose2d):
        if (m.kernel_size, m.stride, m.padding, m.output_padding, m.dilation, m.groups) != (
                (4, 4), (2, 2), (1, 1), (0, 0), (1, 1), 1):
            raise WebDecoderError("Only ConvTranspose2d(kernel 4, stride 2, padding 1) is supported.")
        return {"type": "conv_transpose2d", "in_channels": m.in_channels, "out_channels": m.out_channels,
                "kernel_size": 4, "stride": 2, "padding": 1,
                "weight": _b64(m.weight), "bias": _b64(m.bias) if m.bias is not None else None}
    if isinstance(m, nn.Conv2d):
        if (m.kernel_size, m.stride, m.padding, m.dilation, m.groups) != ((3, 3), (1, 1), (1, 1), (1, 1), 1):
            raise WebDecoderError("Only Conv2d(kernel 3, stride 1, padding 1) is supported.")
        return {"type": "conv2d", "in_channels": m.in_channels, "out_channels": m.out_channels,
                "kernel_size": 3, "stride": 1, "padding": 1,
                "weight": _b64(m.weight), "bias": _b64(m.bias) if m.bias is not None else None}
    for cls, name in ((nn.SiLU, "silu"), (nn.ReLU, "relu"), (nn.Sigmoid, "sigmoid")):
        if isinstance(m, cls):
            return {"type": name}
    raise WebDecoderError(f"The browser decoder has no {type(m).__name__} layer.")


def export_decoder(model: nn.Module) -> dict[str, Any]:
    """The decoder of a VAE or GAN (eval mode is assumed for BatchNorm) as a JSON-ready dict."""
    layers, output_shape = decoder_layers(model)
    kind = "vae" if isinstance(model, VAE) else "gan"
    return {"format": FORMAT, "version": VERSION, "kind": kind, "latent_dim": int(model.latent_dim),
            "output_shape": output_shape, "layers": [_layer_json(m) for m in layers]}


@torch.no_grad()
def run_exported(spec: dict[str, Any], z: torch.Tensor) -> torch.Tensor:
    """Reference forward pass of an export: z (B, latent_dim) -> images (B, C, H, W) in [0, 1]."""
    if spec.get("format") != FORMAT:
        raise WebDecoderError("This is not a genlab web decoder export.")
    h = z.float()
    for layer in spec["layers"]:
        t = layer["type"]
        if t == "linear":
            w = _unb64(layer["weight"], [layer["out_features"], layer["in_features"]])
            b = _unb64(layer["bias"], [layer["out_features"]]) if layer["bias"] else None
            h = F.linear(h, w, b)
        elif t == "conv_transpose2d":
            k = layer["kernel_size"]
            w = _unb64(layer["weight"], [layer["in_channels"], layer["out_channels"], k, k])
            b = _unb64(layer["bias"], [layer["out_channels"]]) if layer["bias"] else None
            h = F.conv_transpose2d(h, w, b, stride=layer["stride"], padding=layer["padding"])
        elif t == "conv2d":
            k = layer["kernel_size"]
            w = _unb64(layer["weight"], [layer["out_channels"], layer["in_channels"], k, k])
            b = _unb64(layer["bias"], [layer["out_channels"]]) if layer["bias"] else None
            h = F.conv2d(h, w, b, stride=layer["stride"], padding=layer["padding"])
        elif t == "reshape":
            h = h.reshape(h.shape[0], *layer["shape"])
        elif t == "latent_class":
            h = LatentClassOneHot(int(layer["classes"]))(h)
        elif t == "silu":
            h = F.silu(h)
        elif t == "relu":
            h = F.relu(h)
        elif t == "sigmoid":
            h = torch.sigmoid(h)
        else:
            raise WebDecoderError(f"Unknown layer type {t!r}.")
    return h
