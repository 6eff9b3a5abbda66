"""The settings of a quick fine-tuning run on the tiny world, shared by the fine-tuning tests."""

from baton.finetune import FinetuneConfig


def finetune_config(tmp_path, feedback, base, **overrides) -> FinetuneConfig:
    """4 steps of 2 micro-batches of 4 feedback and 2 pretraining clips, into ``tmp_path/out``."""
    labels, rewards = feedback
    settings = dict(
        labels=labels,
        rewards=rewards,
        model=base,
        out=tmp_path / "out",
        steps=4,
        batch_size=4,
        pretrain_batch_size=2,
        grad_accum=2,
        learning_rate=1e-3,
        progress=False,
    )
    settings.update(overrides)
    return FinetuneConfig(**settings)
