"""Train a world T2A model on the stream of fresh clips with a learning curve, for choosing the recipe.

    python experiments/pretrain_t2a.py --out runs/pretrain-a --world ~/.cache/baton/world \
        --steps 20000 --assess-every 1000 [--channels 192 384] [--mix 0.45 0.30 0.25] [--resume]

The evaluator detector and the CLAP of ``--world`` (any built world) judge the moving average every
``--assess-every`` steps on held-out prompts (``--assess-prompts`` per task, one clip each): single-event,
integrity and temporal accuracy with 95% intervals, FAD and CLAP score. ``OUT/model/training.json``
and ``OUT/assessments/step-*/figures.json`` hold the curve. Killed, it resumes exactly with ``--resume``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from baton.world.assess import assess_world_model
from baton.world.corpus import CorpusConfig
from baton.world.pretrain import T2APretrainConfig, pretrain_t2a
from baton.world.t2a import T2ATrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--world", type=Path, required=True, help="A built world: its evaluator and CLAP judge."
    )
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--assess-every", type=int, default=1000)
    parser.add_argument("--assess-prompts", type=int, default=100)
    parser.add_argument("--channels", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--blocks", type=int, default=1)
    parser.add_argument(
        "--mix", type=float, nargs=3, default=[0.45, 0.30, 0.25], help="single, pair, triple shares"
    )
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--assess-seed",
        type=int,
        default=2001,
        help="Seed of the assessments' prompts (2001: the v2 build's).",
    )
    parser.add_argument("--lr-schedule", choices=("cosine", "constant"), default="constant")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    single, pair, triple = args.mix
    config = T2APretrainConfig(
        t2a=T2ATrainConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            warmup_steps=args.warmup,
            ema_decay=args.ema_decay,
            channels=args.channels,
            blocks_per_level=args.blocks,
            seed=args.seed,
        ),
        data=CorpusConfig(single_share=single, pair_share=pair, triple_share=triple, seed=args.seed),
        assess_every=args.assess_every,
        lr_schedule=args.lr_schedule,
    )

    def assess(model_dir: Path, step: int) -> dict:
        figures = assess_world_model(
            model_dir,
            args.world / "evaluator",
            args.world / "clap",
            args.assess_prompts,
            seed=args.assess_seed,
            progress=False,
        )
        shown = {
            k: figures[k]["value"] for k in ("single_accuracy", "integrity_accuracy", "temporal_accuracy")
        }
        print(f"step {step}: {shown} FAD {figures['fad']:.3f}", flush=True)
        return figures

    pretrain_t2a(config, args.out, resume=args.resume, assess=assess, progress=True)


if __name__ == "__main__":
    main()
