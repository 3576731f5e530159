"""Inpainting for a class: the benchmarks' probes (bench/inpainting.py --class-requests, bench/classroom.py's
report) on tiny models and made-up numbers; the measurements themselves are the scripts' job."""

from __future__ import annotations

import argparse

import pytest
import torch
from conftest import tiny_config

from genlab.checkpoints import Checkpoint
from genlab.data import synthetic_dataset
from genlab.models import GAN, VAE, Classifier


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("class")
    models = {"vae": VAE(tiny_config("vae")).eval(), "gan": GAN(tiny_config("gan")).eval(),
              "classifier": Classifier(tiny_config("classifier")).eval()}
    return [Checkpoint(f"synthetic-{kind}", kind, models[kind], root) for kind in ("vae", "gan", "classifier")]


def test_the_class_probe_checks_each_request_got_its_own_answer(checkpoints):
    from bench.inpainting import class_requests, class_section

    data = synthetic_dataset(20, 28, 1, num_classes=4, seed=0)
    result = class_requests(*checkpoints, data, requests=3, fills=2, steps=4, gan_tolerances=(0.002, 0.02),
                            log=lambda line: None)
    assert [(r["kind"], r["tolerance"]) for r in result["runs"]] == [("vae", 0.002), ("gan", 0.002), ("gan", 0.02)]
    for run in result["runs"]:
        assert run["same_answers"] is True
        assert run["alone_cpu_per_request"] > 0 and run["together_cpu_per_request"] > 0
        assert 1 <= run["mean_steps"] <= 4 and 0 <= run["accuracy"] <= 1
    text = class_section([("synthetic", result)], "python bench/inpainting.py --class-requests 3")
    assert text.startswith("## Inpainting for a class") and text.count("| synthetic-gan |") == 2 and "| NO |" not in text


def test_the_classroom_report_names_the_load_of_each_class():
    from bench.classroom import report

    row = {"count": 10, "errors": 0, "p50_s": 0.5, "p95_s": 1.5, "error_kinds": []}
    page = {"events": [0.0], "cpu_s": [0.4], "ready_s": [1.2]}

    def sim(students: int, load: float) -> dict:
        return {"students": students, "seconds": 60.0, "actions": 100, "per_action": {"inpaint": row},
                "rss_before": 800.0, "rss_after": 900.0, "server_cpu_s": 60.0, "load_start": load, "load_end": load + 1}

    results = {"genlab": {"page": page, "at_once": {"10": 18.0}, "classes": [sim(30, 2.0), sim(100, 5.0)]},
               "plain": {"page": page, "at_once": {"10": 12.0}, "classes": [sim(30, 3.0)]}}
    args = argparse.Namespace(command="python bench/classroom.py", model="mnist-vae-16", pages=[10])
    text = report(results, args, "Measured now.")
    assert "**30 students**" in text and "**100 students**" in text
    assert "load average 2.0 at the start and 3.0 at the end" in text and "load average 5.0 at the start" in text
    assert "1.00 cores on average" in text and "| inpaint | 10 | 0 | 0.50 | 1.50 |" in text
