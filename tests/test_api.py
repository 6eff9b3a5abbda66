"""The Python API: config docstrings list their settings; stage packages export their entry points lazily."""

import ast
import dataclasses
import importlib
import subprocess
import sys
from dataclasses import dataclass

import pytest

from baton.config import documented, field_help, option

CONFIGS = [
    ("baton.generation.run", "GenerateConfig"),
    ("baton.finetune.config", "FinetuneConfig"),
    ("baton.evaluation.config", "EvaluateConfig"),
    ("baton.evaluation.event_judge", "EventJudgeConfig"),
    ("baton.prompts.curate", "PromptsConfig"),
    ("baton.reward.config", "RewardTrainConfig"),
    ("baton.reward.config", "RewardEvalConfig"),
    ("baton.reward.config", "RewardScoreConfig"),
    ("baton.annotation.config", "ServeConfig"),
    ("baton.annotation.config", "SimulateConfig"),
    ("baton.annotation.config", "MosConfig"),
    ("baton.report.config", "ReportConfig"),
    ("baton.world.build", "WorldBuildConfig"),
    ("baton.demo.run", "DemoConfig"),
    ("baton.interchange.run", "ImportConfig"),
    ("baton.audio", "MelConfig"),
]


@pytest.mark.parametrize(("module", "name"), CONFIGS)
def test_every_config_docstring_lists_its_settings(module, name):
    cls = getattr(importlib.import_module(module), name)
    doc = cls.__doc__
    assert "Settings\n--------" in doc
    assert not doc.startswith(f"{name}(")  # not dataclass's bare signature
    for f in dataclasses.fields(cls):
        assert f"\n{f.name} : " in doc
        first_words = " ".join(f.metadata["help"].split()[:4])
        assert first_words in " ".join(doc.split())


def test_the_settings_show_type_default_and_help():
    @documented
    @dataclass
    class Toy:
        """A toy config.

        Its second paragraph.
        """

        need: str = option(help="Required.")
        n: int = option(10, "How many.")
        on: bool = option(False, "A switch.")
        model: str | None = option(None, "A model (default: the backend's).")

    doc = Toy.__doc__
    assert doc.startswith("A toy config.\n\nIts second paragraph.\n\nSettings\n--------\n")
    assert "n : int\n    How many. (default: 10)\n" in doc
    assert "on : bool = False\n    A switch.\n" in doc
    assert "model : str | None = None\n    A model (default: the backend's).\n" in doc
    assert "need : str (required)\n    Required.\n" in doc


def test_help_of_a_real_config_shows_a_field_s_help():
    from baton.generation.run import GenerateConfig

    assert field_help(GenerateConfig, "per_prompt") in GenerateConfig.__doc__
    import pydoc

    assert "Clips per prompt (BATON: 5)." in pydoc.render_doc(GenerateConfig, renderer=pydoc.plaintext)


EXPORTS = {
    "baton.prompts": ["PromptsConfig", "write_prompts", "load_vocabulary"],
    "baton.generation": ["GenerateConfig", "generate", "clip_seed"],
    "baton.finetune": ["FinetuneConfig", "finetune", "METHODS"],
    "baton.reward": ["RewardModel", "RewardTrainConfig", "train_reward", "score_samples"],
    "baton.evaluation": ["EvaluateConfig", "evaluate", "frechet_distance", "fad_infinity", "kl_divergence"],
}


@pytest.mark.parametrize("package", sorted(EXPORTS))
def test_stage_packages_export_their_entry_points(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert set(EXPORTS[package]) <= set(module.__all__)
    if package != "baton.reward":  # its own, older __getattr__ has no __dir__
        assert set(EXPORTS[package]) <= set(dir(module))
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018


def test_from_evaluation_import_frechet_distance():
    import numpy as np

    from baton.evaluation import frechet_distance
    from baton.evaluation.fad import frechet_distance as direct

    assert frechet_distance is direct
    rng = np.random.default_rng(0)
    assert frechet_distance(rng.normal(size=(50, 3)), rng.normal(size=(50, 3))) >= 0.0


def imported_by(modules: str, watched: tuple[str, ...]) -> list[str]:
    """Which of ``watched`` a fresh interpreter holds after importing ``modules``."""
    code = f"import sys, {modules}\nprint([m for m in {watched!r} if m in sys.modules])\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return ast.literal_eval(out.strip())


def test_importing_the_stage_packages_stays_light():
    stages = "baton.prompts, baton.generation, baton.evaluation, baton.finetune, baton.reward"
    assert imported_by(stages, ("torch", "numpy", "scipy", "diffusers", "transformers")) == []


def test_the_world_loop_does_not_import_what_only_real_backends_need():
    # transformers (and peft, which imports it) cost every demo and fine-tuning process a second or
    # more at start; the world's loop needs neither: LoRA, hub CLAPs and pretrained judges import them.
    assert imported_by("baton.demo.run, baton.finetune.run", ("transformers", "peft", "scipy.signal")) == []
