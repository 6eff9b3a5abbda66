"""`baton evaluate` of the real backends (tiny Tango, AudioLDM 2, Stable Audio) with pretrained judges of
real audio (tiny ones)."""

import hashlib
import json
import math

import numpy as np
import pytest

from baton.artifacts import MetricRecord, PromptRecord, read_records, write_records
from baton.audio import save_audio
from baton.backends import BACKENDS
from baton.cli import main
from baton.errors import InputError
from baton.evaluation.config import EvaluateConfig
from baton.evaluation.panns import build_tiny_cnn14
from baton.evaluation.pretrained import build_tiny_ast
from baton.evaluation.run import run
from baton.evaluation.scorers import Scorers
from baton.reward.encoders import build_tiny_clap
from tests.backends.helpers import one_torch_thread
from tests.finetune.test_backends import BUILDERS


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def judges(tmp_path_factory):
    folder = tmp_path_factory.mktemp("judges")
    return build_tiny_clap(folder / "clap", max_length_s=1), build_tiny_ast(folder / "ast", max_seconds=0.5)


@pytest.fixture(scope="module")
def tango(tmp_path_factory):
    from baton.backends.tiny import tiny_tango

    folder = tmp_path_factory.mktemp("tango")
    tiny_tango(seed=0).save(folder)
    return folder


@pytest.fixture
def prompts(tmp_path):
    """Two prompts, and a real clip for each, named by prompt id so that it pairs with the clips."""
    path = tmp_path / "prompts.jsonl"
    write_records(
        path,
        [
            PromptRecord(id="p0", text="a dog barks", events=[]),
            PromptRecord(id="p1", text="rain falls", events=[]),
        ],
    )
    rng = np.random.default_rng(0)
    for prompt_id in ("p0", "p1"):
        save_audio(
            tmp_path / "real" / f"{prompt_id}.wav",
            (0.3 * rng.standard_normal(4000)).astype(np.float32),
            16000,
        )
    return path


def _evaluate(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", *args, "--no-progress"])
    return exit_.value.code, " ".join(capsys.readouterr().err.split())


def test_a_real_model_is_judged_by_pretrained_judges_and_every_figure_names_its_judge(
    tmp_path, tango, judges, prompts, capsys
):
    clap, ast = judges
    out = tmp_path / "eval"
    code, err = _evaluate(
        ["--model", f"base=tango:{tango}", "--model", f"copy=tango:{tango}", "--prompts", str(prompts),
         "--out", str(out), "--per-prompt", "1", "--reference", str(tmp_path / "real"),
         "--clap", str(clap), "--classifier", str(ast), "--fad-embedding", "ast", "--dtype", "bfloat16"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["judges"]["embedder"]["source"] == str(clap.resolve())
    assert summary["judges"]["classifier"]["source"] == str(ast.resolve())
    assert summary["judges"]["fad"] == summary["judges"]["classifier"]  # --fad-embedding ast
    assert len(summary["judges"]["classifier"]["weights_sha256"]) == 64
    assert summary["judges"]["events"] is None  # no world built here: no event reader
    metrics = summary["metrics"]["base"]
    assert {"clap_score", "kl_softmax", "kl_sigmoid", "fad", "inception_score"} <= set(metrics)
    names = {"clap_score": f"CLAP {clap}", "kl_softmax": f"AST {ast}", "fad": f"AST {ast}"}
    for metric, name in names.items():
        assert all(figure["judge"] == name for figure in metrics[metric].values())
    assert metrics["fad"]["all"]["embedding"] == f"AST {ast}"
    assert summary["differences"]["copy"]["fad"]["all"]["embedding"] == f"AST {ast}"
    # The same model, the same seeds: the same clips, and no difference.
    assert summary["differences"]["copy"]["clap_score"]["untyped"]["value"] == pytest.approx(0.0, abs=1e-6)
    # metrics.jsonl carries the judge of every figure too.
    records = read_records(out / "metrics.jsonl", MetricRecord)
    assert records and all(r.extra["judge"] for r in records)
    assert all(r.extra["embedding"] == f"AST {ast}" for r in records if r.metric == "fad")
    assert "judge (classifier): AST" in err
    # The clips were made in bfloat16, and a rerun in float32 is refused, naming the setting.
    samples = (out / "base" / "samples.jsonl").read_text()
    assert '"dtype":"bfloat16"' in samples.replace(" ", "")
    code, err = _evaluate(
        ["--model", f"base=tango:{tango}", "--prompts", str(prompts), "--out", str(out), "--per-prompt", "1",
         "--clap", str(clap)],
        capsys,
    )  # fmt: skip
    assert code == 1 and "dtype 'bfloat16' (asked: 'float32')" in err  # the folder's clips: bad input


@pytest.mark.parametrize(
    ("backend", "classifier", "fad"),
    [("audioldm2", "panns", "panns"), ("stable-audio", "ast", "clap")],
)
def test_audioldm2_and_stable_audio_are_judged_by_pretrained_judges_and_every_figure_names_its_judge(
    tmp_path, judges, prompts, backend, classifier, fad, capsys
):
    """AudioLDM 2 with audioldm_eval's classifier (CNN14, its embedding for FD); Stable Audio (44.1 kHz
    stereo in the real model, 64 Hz here) with AST and FAD in CLAP's embedding."""
    clap, ast = judges
    BUILDERS[backend](tmp_path / backend)
    cnn14 = build_tiny_cnn14(tmp_path / "Cnn14_tiny.pth")
    spec = {"panns": f"panns:{cnn14}", "ast": str(ast)}[classifier]
    out = tmp_path / "eval"
    code, err = _evaluate(
        ["--model", f"base={backend}:{tmp_path / backend}", "--prompts", str(prompts), "--out", str(out),
         "--per-prompt", "2", "--reference", str(tmp_path / "real"), "--clap", str(clap),
         "--classifier", spec, "--fad-embedding", fad],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((out / "metrics.json").read_text())
    judge_names = {"panns": f"PANNs CNN14 {cnn14}", "ast": f"AST {ast}", "clap": f"CLAP {clap}"}
    assert summary["judges"]["classifier"]["name"] == judge_names[classifier]
    assert summary["judges"]["fad"]["name"] == judge_names[fad]
    if classifier == "panns":
        checkpoint_sha256 = hashlib.sha256(cnn14.read_bytes()).hexdigest()
        assert summary["judges"]["classifier"]["checkpoint_sha256"] == checkpoint_sha256
    metrics = summary["metrics"]["base"]
    assert {"clap_score", "kl_softmax", "kl_sigmoid", "fad", "inception_score"} <= set(metrics)
    judge_of = {"clap_score": judge_names["clap"], "fad": judge_names[fad]}  # the others: the classifier's
    for metric, tasks in metrics.items():
        for figure in tasks.values():
            assert math.isfinite(figure["value"]), metric
            assert figure["judge"] == judge_of.get(metric, judge_names[classifier]), metric
    assert metrics["fad"]["all"]["embedding"] == judge_names[fad]
    assert f"judge (classifier): {judge_names[classifier]}" in err


def test_a_judge_that_is_not_here_stops_the_run_before_any_clip_is_made(
    tmp_path, tango, judges, prompts, capsys
):
    out = tmp_path / "eval"
    code, err = _evaluate(
        ["--model", f"base=tango:{tango}", "--prompts", str(prompts), "--out", str(out),
         "--clap", "laion/clap-htsat-unfused"],
        capsys,
    )  # fmt: skip
    assert code == 1 and "hf download laion/clap-htsat-unfused" in err and "Traceback" not in err
    assert not list(out.rglob("*.wav"))
    code, err = _evaluate(
        ["--model", f"base=tango:{tango}", "--prompts", str(prompts), "--out", str(out),
         "--clap", str(judges[0]), "--fad-embedding", "ast"],
        capsys,
    )  # fmt: skip
    assert code == 2 and "field 'fad_embedding'" in err and "needs an AST classifier" in err
    code, err = _evaluate(
        ["--model", f"base=tango:{tango}", "--prompts", str(prompts), "--out", str(out),
         "--classifier", f"panns:{tmp_path / 'Cnn14_mAP=0.431.pth'}"],
        capsys,
    )  # fmt: skip
    assert code == 1 and "download Cnn14_mAP=0.431.pth" in err and "zenodo.org/record/3987831" in err
    assert "Traceback" not in err and not list(out.rglob("*.wav"))
    code, err = _evaluate(
        ["--model", f"base=tango:{tango}", "--prompts", str(prompts), "--out", str(out),
         "--clap", str(judges[0]), "--classifier", str(judges[1]), "--fad-embedding", "panns"],
        capsys,
    )  # fmt: skip
    assert code == 2 and "needs a PANNs CNN14 classifier: give --classifier panns:" in err


def test_a_model_that_loads_in_float32_only_is_refused_half_weights_at_once(
    tmp_path, prompts, monkeypatch, capsys
):
    monkeypatch.setitem(BACKENDS, "tone", "tests.generation.fake_backend:ToneBackend")
    out = tmp_path / "eval"
    code, err = _evaluate(
        ["--model", "base=tone", "--prompts", str(prompts), "--out", str(out), "--dtype", "bfloat16"], capsys
    )
    assert code == 2 and "the tone backend loads in float32 only, not bfloat16" in err
    assert not out.exists()


class GivenProbabilities:
    """A classifier stub: quiet clips (the reference) get ``REFERENCE``, loud ones ``GENERATED``."""

    name = "given probabilities"
    classes = ("a", "b", "c")
    REFERENCE = [0.7, 0.2, 0.1]
    GENERATED = [0.5, 0.3, 0.2]

    def clip_logits(self, audio, sample_rate):
        rows = [self.REFERENCE if np.abs(clip).max() < 0.4 else self.GENERATED for clip in audio]
        return np.log(np.array(rows))  # softmax gives the rows back


def test_kl_and_is_of_a_classifier_equal_their_values_by_hand(tmp_path, prompts, monkeypatch):
    monkeypatch.setitem(BACKENDS, "tone", "tests.generation.fake_backend:ToneBackend")  # amplitude 0.5
    quiet = (0.1 * np.sin(np.arange(4000) / 5)).astype(np.float32)
    for prompt_id in ("p0", "p1"):
        save_audio(tmp_path / "real" / f"{prompt_id}.wav", quiet, 16000)
    config = EvaluateConfig(
        models=["base=tone"], prompts=prompts, out=tmp_path / "eval", per_prompt=1,
        reference=str(tmp_path / "real"), progress=False, set_resamples=10,
    )  # fmt: skip
    summary = run(config, Scorers(classifier=GivenProbabilities()))
    figures = summary["metrics"]["base"]
    # KL(reference || generated) = sum p ln(p / q): 0.7 ln(7/5) + 0.2 ln(2/3) + 0.1 ln(1/2).
    by_hand = 0.7 * 0.3364722366 + 0.2 * -0.4054651081 + 0.1 * -0.6931471806
    assert by_hand == pytest.approx(0.0851236, abs=1e-6)
    assert figures["kl_softmax"]["untyped"]["value"] == pytest.approx(by_hand, abs=1e-5)  # eps = 1e-6
    # Every generated clip reads [0.5, 0.3, 0.2]: p(y|x) = p(y), so IS = exp(0) = 1.
    assert figures["inception_score"]["all"]["value"] == pytest.approx(1.0)
    assert figures["kl_softmax"]["untyped"]["judge"] == "given probabilities"
    assert summary["judges"]["classifier"] == {"name": "given probabilities"}
    # The sigmoid form on the same logits ln p: s = p / (1 + p) per class, by hand.
    s = [p / (1 + p) for p in GivenProbabilities.REFERENCE]
    r = [q / (1 + q) for q in GivenProbabilities.GENERATED]
    sigmoid = sum(a * (math.log(a) - math.log(b + 1e-6)) for a, b in zip(s, r, strict=True))
    assert figures["kl_sigmoid"]["untyped"]["value"] == pytest.approx(sigmoid, abs=1e-9)


def test_fad_in_the_world_clap_needs_a_world(tmp_path, prompts, judges):
    config = EvaluateConfig(
        models=["base=tango"], prompts=prompts, out=tmp_path / "eval", world=None, clap=str(judges[0]),
        fad_embedding="world", progress=False,
    )  # fmt: skip
    with pytest.raises(InputError, match="needs a world CLAP") as error:
        run(config)
    assert error.value.field == "fad_embedding"
