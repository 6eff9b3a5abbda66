"""Measure, on this machine's CPU, what Tango's UNet costs to fine-tune, with and without gradient checkpointing.

    python experiments/measure_memory.py [--seconds 10] [--batch 1] [--tokens 32] > memory.json

Tango's UNet is built from its published config (``baton.backends.tango_convert.TANGO_UNET_CONFIG``)
with random weights (no download; the cost does not depend on the values). Each setting runs in a
fresh process: build the UNet in float32, train it as ``baton finetune`` does (one forward and
backward pass at one noise level, v-prediction target, FLAN-T5-large-sized text states), and report
the process's resident memory after building and at its peak (``ru_maxrss``), and the step's time.
The weights' sizes in each dtype are counted exactly from the parameters. GPU figures are not
measured here: a GPU's peak differs (CUDA context, allocator), so docs/backends.md labels those as
estimates.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from baton.workers import cpu_model

BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def _rss_gib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def one_step(seconds: float, batch: int, tokens: int, checkpointing: bool) -> dict:
    import torch
    from diffusers import UNet2DConditionModel

    from baton.audio import MelConfig
    from baton.backends.tango_convert import TANGO_UNET_CONFIG, frames_for, frames_multiple

    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(TANGO_UNET_CONFIG)
    if checkpointing:
        unet.enable_gradient_checkpointing()
    unet.train()
    built = _rss_gib()
    # Tango's latents: AudioLDM's VAE (3 levels, 4x down) over 64-bin log-mels, 1024 frames for 10 s.
    frames = frames_for(
        seconds, MelConfig.tango(), frames_multiple(3, len(TANGO_UNET_CONFIG["down_block_types"]))
    )
    latents = torch.randn(batch, 8, frames // 4, 64 // 4)  # [B, C, T / 4, M / 4]
    text = torch.randn(batch, tokens, TANGO_UNET_CONFIG["cross_attention_dim"])  # [B, L, 1024]
    timesteps = torch.full((batch,), 500)
    start = time.perf_counter()
    prediction = unet(latents, timesteps, encoder_hidden_states=text).sample
    loss = torch.nn.functional.mse_loss(prediction, torch.randn_like(prediction))
    loss.backward()
    step = time.perf_counter() - start
    parameters = sum(p.numel() for p in unet.parameters())
    return {
        "parameters": parameters,
        "checkpointing": checkpointing,
        "latents": list(latents.shape),
        "rss_after_build_gib": round(built, 2),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "step_seconds": round(step, 1),
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="Clip length (Tango: 10 s).")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=32, help="Text tokens of the prompt.")
    parser.add_argument("--one", choices=["plain", "checkpointing"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # the child process: one setting
        print(json.dumps(one_step(args.seconds, args.batch, args.tokens, args.one == "checkpointing")))
        return
    runs = []
    for setting in ("plain", "checkpointing"):
        command = [sys.executable, __file__, "--one", setting, "--seconds", str(args.seconds),
                   "--batch", str(args.batch), "--tokens", str(args.tokens)]  # fmt: skip
        runs.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
    parameters = runs[0]["parameters"]
    weights = {dtype: round(parameters * size / 2**30, 2) for dtype, size in BYTES.items()}
    report = {"cpu": cpu_model(), "unet_weights_gib": weights, "runs": runs}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
