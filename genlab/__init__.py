"""Genlab: explore what a VAE and a GAN learned about an image dataset.

From Python: ``genlab.load(name)`` gives a `genlab.api.Model` (sample, encode, decode, interpolate,
edit, inpaint); ``genlab.list_models()`` names the models; ``genlab.to_pil(images)`` draws tensors.
They are imported on first use, so ``import genlab`` stays light.
"""

__version__ = "0.1.0"

_API = ("Model", "UnknownModelError", "load", "list_models", "to_pil")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from genlab import api

        return getattr(api, name)
    raise AttributeError(f"module 'genlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
