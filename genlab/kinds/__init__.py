"""Model kinds: one module per family of models, each a `ModelKind` that says what it can do.

`kind_for(checkpoint)` gives the kind of a loaded checkpoint (by its config's "kind"). A new family
is one module here (a `ModelKind` subclass, `register`ed) plus its model in `genlab/models/` and its
training task in `genlab/training/tasks.py`; the tabs ask the kind's capabilities, never its name.
"""

from genlab.kinds.base import (KINDS, Inverted, LatentResult, ModelKind, ServiceError, VAEExplanation, kind_for,
                               register)
from genlab.kinds import classifier, diffusion, gan, latent_diffusion, vae  # noqa: F401 (they register)

__all__ = ["KINDS", "Inverted", "LatentResult", "ModelKind", "ServiceError", "VAEExplanation", "kind_for", "register"]
