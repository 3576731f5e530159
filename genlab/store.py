"""Every checkpoint of a folder (and of the Hub repos asked for), loaded once and only read afterwards,
each behind its `genlab.service.ModelService`: what the app, the Python API (`genlab.api`) and
`train/precompute.py` share. (Not UI code: it has no Gradio in it.)

Per-user state (the current latent, chosen images) lives in `gr.State`, never here.
Checkpoints can also come from Hugging Face Hub repos (`app.py --hub owner/name`), named by repo id.
"""

from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from genlab import metrics
from genlab.checkpoints import Checkpoint, CheckpointError, list_checkpoints, load_checkpoint
from genlab.service import ModelService

CLASSIFIER = "classifier"  # the kind that measures the others

log = logging.getLogger(__name__)


@dataclass
class ModelStore:
    root: Path
    device: str = "cpu"
    models: dict[str, Checkpoint] = field(default_factory=dict)
    services: dict[str, ModelService] = field(default_factory=dict)  # one per model, same names
    problems: list[str] = field(default_factory=list)  # one sentence per skipped folder
    hub: list[str] = field(default_factory=list)  # Hub repo ids loaded next to the folder
    _stamps: dict[str, int] = field(default_factory=dict, repr=False)  # weights' mtime when loaded
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, root: str | Path, device: str = "cpu", hub: list[str] | tuple[str, ...] = ()) -> "ModelStore":
        store = cls(Path(root), device, hub=list(hub))
        store.refresh()
        return store

    def refresh(self) -> list[str]:
        """Re-scan the folder: load new checkpoints, drop removed ones. Returns the problems."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found = list_checkpoints(self.root)
        problems = [str(w.message) for w in caught]
        models: dict[str, Checkpoint] = {}
        stamps: dict[str, int] = {}
        for name, folder in found.items():
            try:
                stamp = (folder / "model.safetensors").stat().st_mtime_ns
                if name in self.models and self._stamps.get(name) == stamp:
                    models[name], stamps[name] = self.models[name], stamp  # unchanged: keep it
                    continue
                models[name], stamps[name] = load_checkpoint(folder, self.device), stamp
            except CheckpointError as e:
                problems.append(f"Skipping checkpoint: {e}")
            except Exception as e:  # noqa: BLE001 - one unreadable folder must not stop the others loading
                log.warning("checkpoint %s could not be loaded", folder, exc_info=e)
                problems.append(f"Skipping checkpoint {name}: it could not be loaded (see the server's log).")
        for repo_id in self.hub:
            if repo_id in self.models and self.models[repo_id].info.get("hub_repo") == repo_id:
                # a Hub checkpoint is downloaded once; refresh retries only the ones that failed
                models[repo_id] = self.models[repo_id]
                continue
            try:
                from genlab.hub import load_from_hub  # imports huggingface_hub only when asked

                models[repo_id] = load_from_hub(repo_id, device=self.device)
            except CheckpointError as e:  # unreachable, not found, not a genlab checkpoint...
                problems.append(f"Skipping checkpoint: {e}")
        services = self._services_for(models)
        with self._lock:
            self.models, self.services, self._stamps, self.problems = models, services, stamps, problems
        return problems

    def _services_for(self, models: dict[str, Checkpoint]) -> dict[str, ModelService]:
        """A service per model: kept for an unchanged model (its caches stay), new for a new one;
        each generative model gets the service of its dataset's classifier."""
        services: dict[str, ModelService] = {}
        for name, ckpt in models.items():
            old = self.services.get(name)
            services[name] = old if old is not None and old.checkpoint is ckpt else ModelService(ckpt)
        for service in services.values():
            if service.generative:
                names = sorted(n for n, s in services.items() if s.kind == CLASSIFIER and s.dataset == service.dataset)
                service.classifier = services[names[0]] if names else None
        return services

    def get(self, name: str) -> Checkpoint:
        """The checkpoint called `name`, or KeyError with a clear sentence."""
        try:
            return self.models[name]
        except (KeyError, TypeError):
            raise KeyError(f"There is no model called {name!r}. Pick one from the list.") from None

    def service(self, name: str) -> ModelService:
        """The service of the model called `name`, or KeyError with a clear sentence."""
        try:
            return self.services[name]
        except (KeyError, TypeError):
            raise KeyError(f"There is no model called {name!r}. Pick one from the list.") from None

    def names(self, kind: str | tuple[str, ...] | None = None, dataset: str | None = None) -> list[str]:
        """Names of the models of `kind` (a config's "kind", or several) and `dataset`; all when None."""
        kinds = (kind,) if isinstance(kind, str) else kind
        return [n for n, c in self.models.items()
                if (kinds is None or c.kind in kinds) and (dataset is None or c.dataset == dataset)]

    def generative_names(self, dataset: str | None = None) -> list[str]:
        """Names of the models of images (every kind but classifiers): what the model picker lists."""
        return [n for n, s in self.services.items()
                if s.generative and (dataset is None or s.dataset == dataset)]

    def datasets(self) -> list[str]:
        """Datasets that have a model of images."""
        return sorted({s.dataset for s in self.services.values() if s.generative})

    def classifier_for(self, dataset: str) -> ModelService | None:
        """The classifier trained on `dataset`, if one is shipped (used to measure and to edit)."""
        names = sorted(self.names(CLASSIFIER, dataset))
        return self.services[names[0]] if names else None

    def chosen(self, dataset: str) -> dict[str, ModelService | None]:
        """The VAE, GAN and classifier that stand for `dataset` wherever the app puts the families
        side by side (the one rule: `genlab.metrics.choose_models`), and its pixel diffusion model
        (unconditional, <dataset>-diffusion first); None where missing."""
        infos = {n: {**c.info, "kind": c.kind, "dataset": c.dataset} for n, c in self.models.items()}
        chosen = {kind: self.services.get(name) if name else None
                  for kind, name in metrics.choose_models(infos, dataset).items()}
        if "diffusion" not in chosen:
            diffusions = sorted((n for n, s in self.services.items() if s.kind == "diffusion" and s.dataset == dataset
                                 and not s.conditional and not getattr(s.config, "num_classes", 0)),
                                key=lambda n: (n != f"{dataset}-diffusion", n))
            chosen["diffusion"] = self.services[diffusions[0]] if diffusions else None
        return chosen
