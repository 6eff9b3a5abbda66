"""baton: align text-to-audio diffusion models with human preference feedback.

The loop, one sub-package per stage: ``prompts`` -> ``generation`` -> ``annotation`` -> ``reward``
-> ``finetune`` -> ``evaluation`` -> ``report``; ``world`` is the built-in sound world that lets the
whole loop run offline on a CPU. Importing ``baton`` is cheap: heavy libraries (torch, diffusers,
transformers) are imported only by the modules that use them.
"""

__version__ = "0.1.0"
