"""Stage 6: measure models against each other on held-out prompts, every figure with a 95% interval.

One metric per module, each a pure function and an accumulator with ``update``/``compute``:
:mod:`.fad` (Fréchet Audio Distance, FAD-infinity), :mod:`.kl` (KL of paired clips' classifier
outputs, as audioldm_eval), :mod:`.inception_score`, :mod:`.clap_score`, :mod:`.reward_score`,
:mod:`.event_accuracy` (integrity and temporal accuracy by an event detector). Intervals:
:mod:`.intervals` (bootstrap, paired differences), :mod:`.resampling` (prompts resampled whole).
What judges clips: :mod:`.scorers`; what they are compared with: :mod:`.reference`. The stage:
:mod:`.run` (``baton evaluate``), its settings :mod:`.config`, its per-clip file :mod:`.records`.
"""
