"""Does choosing the right clips matter? Fine-tuning on clips a perfect judge picked, against the control.

    python experiments/oracle_selection.py --out runs/oracle \\
        --run sft-oracle:method=sft --run control:method=control \\
        --run sft-oracle-long:method=sft:steps=300:learning_rate=1e-4

The demo's reward model is an imperfect judge of its clips. This experiment removes that error: the
base model's clips of the train prompts are labelled by the world's **evaluator detector**, the very
judge the evaluation scores with (a reward of 1 where it finds the prompt's events, in order for
temporal prompts, else 0). Each ``--run NAME:FIELD=VALUE:...`` fine-tunes the base model on those
rewards with the given :class:`~baton.finetune.config.FinetuneConfig` fields (``method=sft`` trains
on the clips labelled 1, ``method=control`` on every clip, labels ignored), and every tuned model is
evaluated beside the base on the held-out prompts (event sets never seen in training) and again on
the train prompts (new seeds). If selection by a perfect judge moves accuracy no more than the
control does, no reward model can make fine-tuning of this kind beat the control.

A second round (generate, label, tune again) starts from a tuned model: ``--base`` generates the
train clips with it and tunes it (``--generate-seed`` draws other clips than the first round's); the
evaluation still compares with the world's own model:

    python experiments/oracle_selection.py --out runs/oracle-r2 --generate-seed 11 \
        --base runs/oracle/finetune/baton/model --run baton-r2:method=baton:beta=0.25

Stages are resumed from OUT: clips, labels, fine-tunings and evaluations that exist are kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from baton.artifacts import (
    PromptRecord,
    SampleRecord,
    read_records,
    resolve_path,
    write_records,
)
from baton.audio import load_audio
from baton.demo.config import DemoConfig
from baton.demo.run import WORLD_BATCH, split_prompts
from baton.evaluation.config import EvaluateConfig
from baton.evaluation.run import run as evaluate
from baton.finetune.config import FinetuneConfig
from baton.finetune.run import finetune
from baton.generation.run import GenerateConfig
from baton.generation.run import run as generate
from baton.reward.score import reward_record
from baton.world.detectors import EventDetector
from baton.world.manifest import world_dir
from baton.world.spec import SAMPLE_RATE

# FinetuneConfig fields that name files (a --run may point a method at other feedback).
PATH_FIELDS = ("labels", "rewards", "pairs", "pretrain")
# The logit a hard reward stands for (a probability of 1 - 2e-9); JSON has no infinity.
RIGHT_SCORE = 20.0
ORACLE = "world evaluator detector (oracle)"


def parse_run(spec: str) -> tuple[str, dict[str, Any]]:
    """``NAME:FIELD=VALUE:...`` -> (name, fields); values are read as int, float, true/false or text."""
    name, *items = spec.split(":")
    fields: dict[str, Any] = {}
    for item in items:
        key, _, text = item.partition("=")
        value: Any = text
        if text in ("true", "false"):
            value = text == "true"
        else:
            for cast in (int, float):
                try:
                    value = cast(text)
                    break
                except ValueError:
                    pass
        fields[key] = Path(text) if key in PATH_FIELDS else value
    return name, fields


def oracle_rewards(samples_path: Path, evaluator: Path, out: Path) -> None:
    """A reward of 1 for every clip the evaluator judges right, else 0 (as a rewards.jsonl)."""
    samples = read_records(samples_path, SampleRecord)
    detector = EventDetector.load(evaluator)
    clips = [load_audio(resolve_path(s.path, samples_path.parent), SAMPLE_RATE)[0] for s in samples]
    probabilities = detector.match_probability(
        clips,
        [list(s.events) for s in samples],
        ["temporal" if s.task == "temporal" else "integrity" for s in samples],
    )
    records = []
    for sample, p in zip(samples, probabilities, strict=True):
        right = float(p) >= 0.5
        audio = resolve_path(sample.path, samples_path.parent)
        score, probability = (RIGHT_SCORE, 1.0) if right else (-RIGHT_SCORE, 0.0)
        records.append(reward_record(sample, audio, out, score, probability, ORACLE, fingerprint=None))
    write_records(out, records)
    for task in ("integrity", "temporal"):
        rows = [r.probability for r in records if r.task == task]
        print(f"{task}: {sum(rows):.0f} of {len(rows)} train clips right")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--world", type=Path, default=None, help="World folder (default: the cached world).")
    parser.add_argument("--run", action="append", default=[], help="NAME:FIELD=VALUE:... (repeat).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--base", type=Path, default=None, help="Model to generate with and tune (default: the world's)."
    )
    parser.add_argument(
        "--generate-seed", type=int, default=None, help="Seed of the train clips (default: --seed)."
    )
    parser.add_argument("--per-prompt", type=int, default=8, help="Train clips per prompt.")
    parser.add_argument("--eval-per-prompt", type=int, default=2)
    parser.add_argument("--integrity-train", type=int, default=36)
    parser.add_argument("--integrity-test", type=int, default=30)
    parser.add_argument("--temporal-train", type=int, default=120)
    parser.add_argument("--temporal-test", type=int, default=100)
    parser.add_argument(
        "--train-eval-temporal",
        type=int,
        default=80,
        help="Temporal train prompts evaluated again (the first N).",
    )
    args = parser.parse_args()

    world = args.world or world_dir()
    base = args.base or world / "t2a"
    out: Path = args.out
    prompts = out / "prompts"
    if not (prompts / "test.jsonl").exists():
        split = split_prompts(
            DemoConfig(
                seed=args.seed,
                integrity_train=args.integrity_train,
                integrity_test=args.integrity_test,
                temporal_train=args.temporal_train,
                temporal_test=args.temporal_test,
            )
        )
        write_records(prompts / "train.jsonl", split["integrity-train"] + split["temporal-train"])
        write_records(prompts / "test.jsonl", split["integrity-test"] + split["temporal-test"])
    print(
        f"prompts: {len(read_records(prompts / 'train.jsonl', PromptRecord))} train, "
        f"{len(read_records(prompts / 'test.jsonl', PromptRecord))} held out"
    )

    generate(
        GenerateConfig(
            prompts=prompts / "train.jsonl",
            out=out / "generated",
            model=str(base),
            per_prompt=args.per_prompt,
            seed=args.seed if args.generate_seed is None else args.generate_seed,
            batch_size=WORLD_BATCH,
        )
    )
    rewards = out / "oracle-rewards.jsonl"
    if not rewards.exists():
        oracle_rewards(out / "generated" / "samples.jsonl", world / "evaluator", rewards)

    tuned = {}
    for spec in args.run:
        name, fields = parse_run(spec)
        settings = {
            "model": str(base),
            "rewards": rewards,
            # BATON's pretraining loss on the world's own corpus, whichever model is tuned
            "pretrain": world / "corpus" / "corpus.json",
            "out": out / "finetune" / name,
            "steps": 100,
            "learning_rate": 3e-5,
            "beta": 1.0,
            "reward_mode": "hard",
            "seed": args.seed,
            "resume": True,
            **fields,
        }
        tuned[name] = finetune(FinetuneConfig(**settings))

    train = read_records(prompts / "train.jsonl", PromptRecord)
    temporal = [p for p in train if p.task == "temporal"][: args.train_eval_temporal]
    write_records(prompts / "train-eval.jsonl", [p for p in train if p.task != "temporal"] + temporal)
    models = [f"base=world:{world / 't2a'}"] + [f"{name}=world:{path}" for name, path in tuned.items()]
    for split_name, seed in (("test", args.seed + 1), ("train-eval", args.seed + 77)):
        evaluate(
            EvaluateConfig(
                models=models,
                prompts=prompts / f"{split_name}.jsonl",
                out=out / f"evaluation-{split_name}",
                per_prompt=args.eval_per_prompt,
                seed=seed,
                batch_size=WORLD_BATCH,
                world=world,
            )
        )


if __name__ == "__main__":
    main()
