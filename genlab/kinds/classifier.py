"""The classifier kind: not a generator; it measures the others (verdicts, coverage, attribute banks)."""

from __future__ import annotations

from genlab.kinds.base import ModelKind, register


class ClassifierKind(ModelKind):
    name = "classifier"
    label = "classifier"
    generative = False

    @property
    def has_latents(self) -> bool:
        return False


register(ClassifierKind)
