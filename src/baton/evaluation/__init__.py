"""Stage 6: measure models against each other on held-out prompts, every figure with a 95% interval.

One metric per module, each pure functions over per-clip values or embeddings (``baton evaluate``
groups the values by prompt and resamples prompts, :mod:`baton.stats`):
:mod:`.fad` (Fréchet Audio Distance, FAD-infinity), :mod:`.kl` (KL of paired clips' classifier
outputs, as audioldm_eval), :mod:`.inception_score`, :mod:`.clap_score`, :mod:`.reward_score`,
:mod:`.event_accuracy` (integrity and temporal accuracy by an event detector). Judges that need
only a CLAP, for any backend's clips and as AI feedback: :mod:`.event_judge` (which named events
sound, and when) and :class:`.clap_score.ClapScoreJudge`. Intervals:
:mod:`baton.stats` (bootstrap, paired differences, prompts resampled whole).
What judges clips: :mod:`.scorers` (the world's judges), :mod:`.pretrained` (LAION-CLAP and an
AudioSet AST for real audio), :mod:`.panns` (PANNs CNN14 from its checkpoint file); what they are
compared with: :mod:`.reference`. The stage:
:mod:`.run` (``baton evaluate``), its settings :mod:`.config`, its per-clip file :mod:`.records`.

The Python API (imported on first use, so that ``import baton.evaluation`` does not import numpy)::

    from baton.evaluation import EvaluateConfig, evaluate, frechet_distance

    metrics = evaluate(EvaluateConfig(models=["base=world", "tuned=world:ft/model"], prompts=Path("t.jsonl")))
    fad = frechet_distance(embeddings_a, embeddings_b)

(``inception_score`` and the other metric functions named like their modules are not exported
here, since the submodule would shadow them; import them from their modules.)
"""

from __future__ import annotations

from baton.exports import lazy_exports

# name -> (module, attribute); imported on first use.
_EXPORTS = {
    "EvaluateConfig": ("baton.evaluation.config", "EvaluateConfig"),
    "evaluate": ("baton.evaluation.run", "run"),
    "frechet_distance": ("baton.evaluation.fad", "frechet_distance"),
    "fad_infinity": ("baton.evaluation.fad", "fad_infinity"),
    "FewEmbeddingsWarning": ("baton.evaluation.fad", "FewEmbeddingsWarning"),
    "kl_divergence": ("baton.evaluation.kl", "kl_divergence"),
    "inception_score_from_logits": ("baton.evaluation.inception_score", "inception_score_from_logits"),
    "clap_scores": ("baton.evaluation.clap_score", "clap_scores"),
    "bootstrap_mean": ("baton.stats", "bootstrap_mean"),
    "paired_difference": ("baton.stats", "paired_difference"),
    "EventJudge": ("baton.evaluation.event_judge", "EventJudge"),
    "EventJudgeConfig": ("baton.evaluation.event_judge", "EventJudgeConfig"),
    "judge_vocabulary": ("baton.evaluation.event_judge", "judge_vocabulary"),
    "load_embedder": ("baton.evaluation.event_judge", "load_embedder"),
    "ClapScoreJudge": ("baton.evaluation.clap_score", "ClapScoreJudge"),
    "Scorers": ("baton.evaluation.scorers", "Scorers"),
    "world_scorers": ("baton.evaluation.scorers", "world_scorers"),
    "ClapJudge": ("baton.evaluation.pretrained", "ClapJudge"),
    "AudioSetClassifier": ("baton.evaluation.pretrained", "AudioSetClassifier"),
    "PannsClassifier": ("baton.evaluation.panns", "PannsClassifier"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
