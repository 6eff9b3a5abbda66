import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from baton.artifacts import RewardRecord, read_records, write_json, write_records
from baton.audio import save_audio
from baton.cli import main
from baton.errors import InputError
from baton.evaluation.records import JudgementRecord
from baton.evaluation.run import METRIC_INFO
from baton.report.config import ReportConfig
from baton.report.html import choose_examples
from baton.report.run import find_reliability, load_run, parse_bins, run

MODELS = ["base", "baton", "dpo", "sft"]
PROMPTS = [("i0", "integrity", ["beep", "knock"]), ("i1", "integrity", ["hum", "rain"]),
           ("t0", "temporal", ["chirp", "bell", "siren"]), ("t1", "temporal", ["siren", "tweet"])]  # fmt: skip
CLIP_SECONDS = 0.5


def figure(value: float, half: float = 0.05, n: int = 4) -> dict:
    return {"value": value, "ci_low": value - half, "ci_high": value + half, "n": n, "prompts": 2}


def write_evaluation(folder: Path, reward: bool = True) -> None:
    """A small evaluation folder as `baton evaluate` writes it: 4 models, the reference, 4 clips each."""
    metrics, differences = {}, {}
    for i, model in enumerate(MODELS):
        metrics[model] = {
            "accuracy": {"integrity": figure(0.4 + 0.1 * i), "temporal": figure(0.2 + 0.1 * i)},
            "fad": {"all": figure(1.0 + 0.05 * i, n=8)},
        }
        if reward:
            metrics[model]["reward"] = {"all": figure(0.5 + 0.05 * i, n=8)}
        if i:
            differences[model] = {
                metric: {task: {**figure(f["value"] - metrics["base"][metric][task]["value"], 0.03), "excludes_zero": True}
                         for task, f in tasks.items()}
                for metric, tasks in metrics[model].items()
            }  # fmt: skip
    metrics["reference"] = {
        "accuracy": {"integrity": figure(0.9), "temporal": figure(0.8)},
        "fad": {"all": figure(0.2)},
    }
    order = [*MODELS, "reference"]
    models = {
        m: {"role": "base" if m == "base" else "tuned", "backend": "world", "path": f"/m/{m}", "clips": 4}
        for m in MODELS
    }
    models["reference"] = {"role": "reference", "backend": "world", "path": "renders", "clips": 4}
    write_json(
        folder / "metrics.json",
        {
            "format": "baton.metrics", "version": 1, "base": "base", "order": order, "models": models,
            "metrics": metrics, "differences": differences,
            "metric_info": {k: METRIC_INFO[k] for k in ("accuracy", "reward", "fad")},
            "prompts": {"file": "test.jsonl", "count": 4, "per_prompt": 1},
            "settings": {"seed": 0}, "seconds": {"judge": 1.0}, "notes": ["a note from the evaluation"],
        },
    )  # fmt: skip
    t = np.arange(int(16000 * CLIP_SECONDS)) / 16000
    for m, model in enumerate(order):
        records = []
        for p, (prompt_id, task, events) in enumerate(PROMPTS):
            sample_id = f"{prompt_id}-0"
            tone = (0.3 * np.sin(2 * np.pi * (220 + 40 * m + 10 * p) * t)).astype(np.float32)
            save_audio(folder / model / "audio" / f"{sample_id}.wav", tone, 16000)
            records.append(
                JudgementRecord(
                    sample_id=sample_id, prompt_id=prompt_id, text=f"prompt {prompt_id}", events=events, task=task,
                    index=0, seed=100 + p, path=f"audio/{sample_id}.wav", correct=(m + p) % 2 == 0,
                    presence=True, detected=events[:1], clap_score=0.1 * m,
                    reward=0.2 + 0.1 * m if reward and model != "reference" else None, reference_id=sample_id,
                )
            )  # fmt: skip
        write_records(folder / model / "judgements.jsonl", records)


def write_full_run(root: Path) -> Path:
    write_evaluation(root / "evaluation")
    for method in ("baton", "dpo"):
        lines = [
            {"step": s, "loss": 1.0 / (s + 1), "losses": {"feedback": 0.5 / (s + 1), "pretrain": 0.4}, "lr": 1e-4 * min(1, s / 5)}
            for s in range(30)
        ]  # fmt: skip
        path = root / "finetune" / method / "train_log.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    bins = [{"confidence": c, "accuracy": c * 0.9, "count": 10} for c in (0.1, 0.3, 0.5, 0.7, 0.9)]
    write_json(
        root / "reward" / "eval.json",
        {"tasks": {"integrity": {"accuracy": 0.8, "reliability": bins, "ece": 0.04},
                   "temporal": {"reliability": {"confidence": [0.2, 0.8], "accuracy": [0.3, 0.7], "count": [5, 5]}}}},
    )  # fmt: skip
    write_records(
        root / "reward" / "rewards.jsonl",
        [
            RewardRecord(sample_id=f"s{i}", prompt_id=f"p{i}", text="x", task="temporal" if i % 2 else "integrity",
                         score=0.0, probability=i / 20)
            for i in range(20)
        ],
    )  # fmt: skip
    write_json(
        root / "run.json",
        {"settings": {"quick": True}, "seconds": {"world": 12.5}, "models": {"control": "labels <ignored>"}},
    )
    return root


def render(root: Path, **kw) -> str:
    path = run(ReportConfig(run=root, out=root / "report.html", **kw))
    return path.read_text()


def test_a_full_run_has_every_section(tmp_path):
    page = render(write_full_run(tmp_path / "run"))
    for section in ("results", "charts", "rewards", "training", "reliability", "examples", "settings"):
        assert f'<section id="{section}">' in page, section
    assert "not in this run" not in page
    assert page.count('<tr class="metric-row">') == 4  # accuracy x 2 tasks, FAD, reward
    assert page.count('<tr class="example-row">') == 4  # 2 per task (3 asked, 2 exist)
    assert page.count("<audio ") == 4 * 5  # every model and the reference, per example
    # 3 metric charts + differences, 2 reward histograms, 2 training runs, 1 reliability diagram
    assert page.count("<img ") == 9
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing outside the file
    assert "a note from the evaluation" in page and "0.04" in page  # notes, the ECE
    assert '<dl class="glossary" id="models"><dt>control</dt><dd>labels &lt;ignored&gt;</dd></dl>' in page


def test_missing_parts_are_one_line_notes(tmp_path):
    root = tmp_path / "run"
    write_evaluation(root / "evaluation", reward=False)
    page = render(root)
    assert "Training curves: not in this run (no finetune/*/train_log.jsonl)." in page
    assert "Reward model reliability: not in this run (no reward/ folder)." in page
    assert "Reward distributions: not in this run" in page
    assert 'id="models"' not in page  # no run.json: no legend
    assert '<section id="results">' in page and '<section id="examples">' in page


def test_an_evaluation_folder_alone_is_a_run(tmp_path):
    write_evaluation(tmp_path / "ev")
    page = render(tmp_path / "ev")
    assert page.count('<tr class="metric-row">') == 4


def test_clips_are_found_from_the_judgements_folder_and_in_older_files_from_the_working_folder(
    tmp_path, monkeypatch
):
    """Judgements name clips from their file's folder (or absolutely); an older baton named them from
    the folder `baton evaluate` ran in (``runs/x/evaluation/base/audio/...``), which the report reads too."""
    root = write_full_run(tmp_path / "run")
    base = root / "evaluation" / "base"
    records = list(read_records(base / "judgements.jsonl", JudgementRecord))
    older = [r.model_copy(update={"path": f"runs/x/evaluation/base/{r.path}"}) for r in records[:2]]
    absolute = [r.model_copy(update={"path": str(base / r.path)}) for r in records[2:3]]
    write_records(base / "judgements.jsonl", [*older, *absolute, *records[3:]])
    monkeypatch.chdir(tmp_path)
    page = run(ReportConfig(run=Path("run"), examples=2)).read_text()
    assert page.count('<tr class="example-row">') == 4
    assert "audio missing" not in page and page.count("<audio ") == 4 * 5


def test_a_broken_log_is_noted_and_the_rest_is_shown(tmp_path):
    root = write_full_run(tmp_path / "run")
    log = root / "finetune" / "dpo" / "train_log.jsonl"
    log.write_text('{"step": 0, "loss": 1.0}\n{"step": 1, "loss": \n')
    page = render(root)
    assert "could not be read: finetune/dpo/train_log.jsonl, line 2: not valid JSON" in page
    assert '<section id="training">' in page  # baton's log is still plotted


def test_nothing_to_report(tmp_path):
    with pytest.raises(InputError, match="nothing to report"):
        load_run(tmp_path)
    with pytest.raises(InputError, match="no such run folder"):
        load_run(tmp_path / "missing")


def test_reliability_bins_in_several_shapes():
    listed = [
        {"mean_predicted": 0.2, "fraction_positive": 0.25, "n": 4},
        {"confidence": 0.5, "accuracy": 0.5, "count": 0},
    ]
    assert parse_bins(listed) == [{"confidence": 0.2, "accuracy": 0.25, "count": 4.0}]  # empty bins dropped
    assert parse_bins({"bins": listed}) == parse_bins(listed)
    assert parse_bins({"confidence": [0.1], "accuracy": [0.2]}) == [
        {"confidence": 0.1, "accuracy": 0.2, "count": 0.0}
    ]
    curves, ece = find_reliability({"reliability": {"integrity": listed, "temporal": listed}, "ece": 0.1})
    assert set(curves) == {"integrity", "temporal"} and ece == {"all": 0.1}
    curves, _ = find_reliability({"all": {"reliability": listed}})
    assert set(curves) == {"all"}
    curves, ece = find_reliability({"tasks": {"temporal": {"reliability": listed, "ece": 0.2}}})
    assert set(curves) == {"temporal"} and ece == {"temporal": 0.2}


def test_examples_where_models_disagree_come_first():
    def judged(model_correct):
        return [
            JudgementRecord(
                sample_id=f"s{i}", prompt_id=f"p{i}", text="t", task="integrity", index=0, correct=c
            )
            for i, c in enumerate(model_correct)
        ]

    judgements = {"base": judged([True, True, False, True]), "tuned": judged([True, True, True, True])}
    assert choose_examples(judgements, ["base", "tuned"], 1, seed=0) == ["s2"]
    assert choose_examples(judgements, ["base", "tuned"], 1, seed=5) == ["s2"]
    assert len(choose_examples(judgements, ["base", "tuned"], 3, seed=0)) == 3


def test_command_line(tmp_path):
    root = write_full_run(tmp_path / "run")
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--run", str(root), "--out", str(tmp_path / "r.html"), "--examples", "1"])
    assert exit_.value.code == 0
    assert (tmp_path / "r.html").read_text().count('<tr class="example-row">') == 2


def _chromium(playwright, executable):
    """Headless chromium (the ``chromium`` fixture's), kept off the network."""
    return playwright.chromium.launch(
        executable_path=str(executable),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"],
    )  # fmt: skip


def test_the_page_in_headless_chromium(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    root = write_full_run(tmp_path / "run")
    path = run(ReportConfig(run=root, out=tmp_path / "report.html"))
    requests: list[str] = []
    with sync_playwright() as p:
        browser = _chromium(p, chromium)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.goto(path.resolve().as_uri())
            page.wait_for_function(
                "Array.from(document.querySelectorAll('img')).every(i => i.complete)"
                " && Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1)",
                timeout=20000,
            )
            table_rows = page.locator("#results-table tbody tr").count()
            headers = page.locator("#results-table thead th").all_inner_texts()
            widths = page.evaluate("Array.from(document.querySelectorAll('img')).map(i => i.naturalWidth)")
            durations = page.evaluate("Array.from(document.querySelectorAll('audio')).map(a => a.duration)")
            example_rows = page.locator("#examples-table tbody tr").count()
            first_cell = page.locator("#results-table tbody tr").first.inner_text()
        finally:
            browser.close()
    assert table_rows == 4 and example_rows == 4
    assert headers == ["metric", "task", "base", "baton", "dpo", "sft", "reference (real clips)"]
    assert "event accuracy" in first_cell and "Δ" in first_cell
    assert len(widths) == 9 and all(w > 0 for w in widths)
    assert len(durations) == 20 and all(d == pytest.approx(CLIP_SECONDS, abs=0.05) for d in durations)
    assert requests == [path.resolve().as_uri()]  # the page itself, nothing else


def test_reward_figures_say_how_the_reward_model_was_judged():
    from baton.report.html import reward_figures

    document = {
        "method": "cross-validation",
        "folds": 5,
        "tasks": {
            "temporal": {
                "clips": 200,
                "ones": 18,
                "accuracy": {"value": 0.91, "ci_low": 0.865, "ci_high": 0.945},
                "roc_auc": {"value": 0.515, "ci_low": 0.379, "ci_high": 0.657},
            },
            "integrity": {"clips": 0},  # no clips: no row
        },
    }
    html = reward_figures(document)
    assert "5-fold cross-validation" in html
    assert html.count("<tr>") == 2  # the header and temporal
    assert "<td>temporal</td><td>200</td><td>0.090</td>" in html  # 18 / 200 labelled 1
    assert "0.515" in html and "[0.379, 0.657]" in html
    assert "Held-out labelled clips." in reward_figures({"tasks": document["tasks"]})
    assert reward_figures({"accuracy": 0.8}) == ""


def test_a_difference_is_coloured_only_when_its_interval_excludes_zero_as_printed():
    from baton.report.html import results_tables

    def page(low: float, high: float) -> str:
        base = {"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 4}
        # excludes_zero as an older baton wrote it for float noise: the report judges the interval.
        diff = {"value": (low + high) / 2, "ci_low": low, "ci_high": high, "n": 4, "excludes_zero": True}
        summary = {"base": "base", "order": ["base", "baton"],
                   "metrics": {"base": {"accuracy": {"all": base}}, "baton": {"accuracy": {"all": base}}},
                   "differences": {"baton": {"accuracy": {"all": diff}}}}  # fmt: skip
        return results_tables(summary)

    for low, high in ((0.0, 0.0), (-2e-17, -1e-18), (-0.0003, -0.0001)):
        assert 'class="num better"' not in page(low, high) and 'class="num worse"' not in page(low, high)
    assert 'class="num better"' in page(0.05, 0.15) and 'class="num worse"' in page(-0.15, -0.05)


def test_paired_differences_have_one_panel_per_metric_with_its_better_direction(tmp_path):
    from baton.report import plots
    from baton.report.html import difference_panels

    write_evaluation(tmp_path / "ev")
    summary = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    # KL is on another scale than accuracy; it gets its own panel too.
    for model in MODELS:
        summary["metrics"][model]["kl_softmax"] = {"all": figure(8.0, 1.0)}
        if model != "base":
            summary["differences"][model]["kl_softmax"] = {"all": figure(-3.0, 1.0)}
    summary["metric_info"] = {k: METRIC_INFO[k] for k in METRIC_INFO if k in summary["metrics"]["base"]}
    panels = difference_panels(summary)
    assert list(panels) == ["accuracy", "reward", "kl_softmax", "fad"]
    fig = plots.difference_figure(list(panels.values()), ["baton", "dpo", "sft"], [*MODELS, "reference"])
    try:
        axes = {ax.get_title(): ax for ax in fig.axes}
        assert list(axes) == ["event accuracy", "reward", "KL (softmax)", "FAD"]  # one per metric, no spare
        directions = {title: ax.get_xlabel() for title, ax in axes.items()}
        assert directions == {
            "event accuracy": "better →",
            "reward": "better →",
            "KL (softmax)": "← better",
            "FAD": "← better",
        }
        # each panel on its own x scale, with the zero line inside it
        kl_low, kl_high = axes["KL (softmax)"].get_xlim()
        acc_low, acc_high = axes["event accuracy"].get_xlim()
        assert kl_low < -3.5 and acc_low > -1.0 and acc_high < 1.0
        for ax in axes.values():
            low, high = ax.get_xlim()
            assert low <= 0.0 <= high
            assert any(list(line.get_xdata()) == [0.0, 0.0] for line in ax.get_lines())
        # the models are the shared y axis, the first on top
        ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert ticks == ["baton", "dpo", "sft"]
        assert all(ax.get_shared_y_axes().joined(fig.axes[0], ax) for ax in fig.axes)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_the_page_never_scrolls_sideways_on_a_phone_or_a_laptop(tmp_path, chromium):
    from playwright.sync_api import sync_playwright

    root = write_full_run(tmp_path / "run")
    # a wide reward-model table too, and a long unbreakable name in the header
    document = json.loads((root / "reward" / "eval.json").read_text())
    document["tasks"]["integrity"].update(clips=40, ones=12, accuracy=figure(0.8), roc_auc=figure(0.7))
    write_json(root / "reward" / "eval.json", document)
    path = run(ReportConfig(run=root, out=tmp_path / "report.html", title="report_" * 12))
    measured = {}
    with sync_playwright() as p:
        browser = _chromium(p, chromium)
        try:
            for width in (375, 1366):
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.goto(path.resolve().as_uri())
                page.wait_for_function(
                    "Array.from(document.querySelectorAll('img')).every(i => i.complete)", timeout=20000
                )
                measured[width] = page.evaluate(
                    """() => ({
                        scroll: document.documentElement.scrollWidth,
                        inner: innerWidth,
                        images: Array.from(document.querySelectorAll('img')).map(
                            i => [i.getBoundingClientRect().right, i.parentElement.getBoundingClientRect().right]),
                        unwrapped: Array.from(document.querySelectorAll('table'))
                            .filter(t => !t.parentElement.classList.contains('scroll')).length,
                        examples: (w => [w.scrollWidth, w.clientWidth])(
                            document.querySelector('#examples-table').parentElement),
                    })"""
                )
                if width == 375:
                    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
                page.close()
        finally:
            browser.close()
    for width, m in measured.items():
        assert m["scroll"] <= m["inner"] == width, (width, m)
        assert all(right <= parent + 0.5 for right, parent in m["images"]), (width, m["images"])
        assert m["unwrapped"] == 0  # every table scrolls inside its own wrapper
    examples_scroll, examples_width = measured[1366]["examples"]
    assert examples_scroll <= examples_width  # on a laptop the whole examples table is in view


def test_training_curves_keep_losses_apart_from_other_quantities_and_overlaps_visible():
    import matplotlib.pyplot as plt

    from baton.report import plots

    keys = ["loss", "feedback_loss", "grad_norm", "pretrain_loss", "implicit_accuracy", "lr", "val_loss"]
    assert plots.curve_groups(keys) == [
        ("losses", ["loss", "feedback_loss", "pretrain_loss", "val_loss"]),
        ("grad_norm", ["grad_norm"]),
        ("implicit_accuracy", ["implicit_accuracy"]),
        ("learning rate", ["lr"]),
    ]
    steps = {k: np.arange(1, 31) for k in keys}
    values = {k: np.linspace(1.0, 0.5, 30) for k in keys}  # every series the same: all overlap
    values["lr"] = np.full(30, 1e-4)
    fig = plots.training_figure("baton", steps, values)
    try:
        lines = {ax.get_title(): [line.get_label() for line in ax.get_lines()] for ax in fig.axes}
        assert lines == {
            "baton: losses": ["loss", "feedback_loss", "pretrain_loss", "val_loss"],
            "baton: grad_norm": ["grad_norm"],
            "baton: implicit_accuracy": ["implicit_accuracy"],
            "baton: learning rate": ["lr"],
        }
        drawn = fig.axes[0].get_lines()
        # the total loss is widest and drawn first, each later line thinner or dashed and on top
        assert drawn[0].get_label() == "loss" and drawn[0].get_linestyle() == "-"
        assert all(line.get_linewidth() < drawn[0].get_linewidth() for line in drawn[1:])
        assert len({(line.get_linestyle(), line.get_color()) for line in drawn}) == len(drawn)
        assert [line.get_zorder() for line in drawn] == sorted(line.get_zorder() for line in drawn)
    finally:
        plt.close(fig)


def test_reward_histograms_are_small_multiples_so_equal_models_are_all_visible():
    import matplotlib.pyplot as plt

    from baton.report import plots

    same = np.linspace(0.3, 0.6, 40)
    series = {m: same for m in MODELS}  # four models with exactly the same rewards
    fig = plots.histogram_figure("reward", series, MODELS)
    try:
        assert len(fig.axes) == 4
        assert [ax.get_title().split("\n")[0] for ax in fig.axes] == MODELS
        assert all(len(ax.patches) > 0 for ax in fig.axes)  # each model drawn on its own panel
        assert all(ax.get_shared_x_axes().joined(fig.axes[0], ax) for ax in fig.axes)
    finally:
        plt.close(fig)


def test_paths_inside_the_run_are_shown_relative_to_it(tmp_path):
    root = write_full_run(tmp_path / "run")
    info = json.loads((root / "run.json").read_text())
    info.update(out=str(root), world="/cache/world-quick", model=str(root / "finetune" / "baton" / "model"),
                sibling=f"{root}2/x", nested=f"/elsewhere{root}/y")  # fmt: skip
    write_json(root / "run.json", info)
    page = render(root)
    text = re.sub(r'src="data:[^"]*"', "", page)
    assert str(tmp_path) not in text.replace(f"{root}2/x", "").replace(f"/elsewhere{root}/y", "")
    assert f"Run {root.name} ·" in page
    assert "<h3>The run (run.json)</h3>" in page
    assert "<h3>The evaluation (evaluation/metrics.json)</h3>" in page
    assert "From reward/eval.json." in page
    # The settings are JSON shown as text: quotes escaped (as &#34; or &quot;), read back as written.
    shown = html.unescape(page)
    assert '"out": "."' in shown and '"out": "' not in page
    assert '"model": "finetune/baton/model"' in shown
    # outside the run: absolute, as it is
    assert '"world": "/cache/world-quick"' in shown
    assert f'"sibling": "{root}2/x"' in shown
    assert f'"nested": "/elsewhere{root}/y"' in shown


class _PageChecker(HTMLParser):
    """Every element a report writes closed in order (void elements need no end tag); the text
    kept, so that a test can read what a browser would show."""

    VOID = {"meta", "img", "br", "hr", "input", "link", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1] if self.open else 'nothing'}")
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_page_is_well_formed_and_a_prompt_is_text_not_markup(tmp_path):
    root = write_full_run(tmp_path / "run")
    info = json.loads((root / "run.json").read_text())
    info["models"] = {"tuned": '<script>alert("x")</script> & <b>bold</b>'}
    write_json(root / "run.json", info)
    page = render(root, title='A <i>title</i> & "quotes"')
    checker = _PageChecker()
    checker.feed(page)
    checker.close()
    assert checker.problems == [] and checker.open == []
    assert "<script>" not in page and "<i>title</i>" not in page and "<b>bold</b>" not in page
    shown = "".join(checker.text)
    assert '<script>alert("x")</script> & <b>bold</b>' in shown
    assert 'A <i>title</i> & "quotes"' in shown


def test_a_relative_run_and_out_from_another_working_folder_play_every_clip(tmp_path, monkeypatch, capsys):
    write_full_run(tmp_path / "runs" / "r1")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--run", "../runs/r1", "--out", "../pages/report.html", "--examples", "2"])
    assert exit_.value.code == 0
    assert "report in ../pages/report.html" in " ".join(capsys.readouterr().err.split())
    page = (tmp_path / "pages" / "report.html").read_text()
    assert page.count('<tr class="example-row">') == 4
    assert "audio missing" not in page and page.count("<audio ") == 4 * 5  # every model's clip plays


def label_efficiency_figures() -> dict:
    """The shape of benchmarks/bench_label_efficiency.py's figures, two rules over three budgets."""

    def rows(aucs):
        return [
            {"labelled": n, "auc": a, "ci": [a - 0.02, a + 0.02]}
            for n, a in zip((20, 40, 60), aucs, strict=True)
        ]

    return {
        "budgets": [20, 40, 60],
        "curves": {"random": rows([0.6, 0.65, 0.7]), "uncertain": rows([0.6, 0.71, 0.72])},
        "random_full_budget_auc": 0.7,
        "reaches_random_full_budget": {"random": {"labels": 60}, "uncertain": {"labels": 40}},
        "cosine_auc": 0.62,
        "settings": {"seeds": 5, "votes_per_clip": 3, "random_share": 0.25},
    }


def test_label_efficiency_from_the_benchmarks_json_or_make_benchs_results(tmp_path):
    root = write_full_run(tmp_path / "run")
    figures = label_efficiency_figures()
    own = tmp_path / "label_efficiency.json"
    write_json(own, figures)
    bench = tmp_path / "results.json"
    write_json(bench, {"benchmarks": {"label_efficiency": {"status": "ok", "results": figures}}})
    for path in (own, bench):
        page = render(root, label_efficiency=path)
        assert '<section id="label_efficiency">' in page
        assert page.count("<img ") == 10  # the full run's 9 and the curves
        assert "<td>uncertain</td><td>0.720 [0.700, 0.740]</td><td>40</td>" in page
    write_json(own, {"benchmarks": {}})
    with pytest.raises(InputError, match="label_efficiency.*holds no label-efficiency curves"):
        render(root, label_efficiency=own)
