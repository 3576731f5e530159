"""The classifier kind: not a generator; it measures the others (verdicts, coverage, attribute banks)."""

from __future__ import annotations

from genlab.kinds.base import ModelKind, register


class ClassifierKind(ModelKind):
    name = "classifier"
    label = "classifier"
    description = "CNN classifier"
    pipeline_tag = "image-classification"
    generative = False

    @property
    def has_latents(self) -> bool:
        return False


    @classmethod
    def usage(cls, model_config):
        size, channels = model_config.get("image_size"), model_config.get("channels")
        return [f"images = torch.rand(8, {channels}, {size}, {size})  # yours: (B, C, H, W) in [0, 1]",
                "probabilities = ckpt.model(images).softmax(1)  # (B, num_classes)"]

register(ClassifierKind)
