"""The real backends' generation path against calling the model directly: identical audio, throughput.

For ``audioldm2`` and ``stable-audio`` the direct call is the diffusers pipeline itself, given the
same tiny random-weight model, settings and one generator per clip (``pipe(prompt=..., generator=
[...])``); the stereo Stable Audio output is averaged to mono, as the backend does. diffusers has
no Tango pipeline, so for ``tango`` the direct call is Tango's inference written out over the same
modules (T5 -> DDPM loop with batched guidance -> VAE -> HiFi-GAN).

Timing: the two calls alternate (ours, direct, ours, direct, ...) on one torch thread, so that the
shared machine's load falls on both alike; ``throughput_ratio`` = best direct time / best time of
ours (1.0: no overhead; the target is >= 0.95), ``median_throughput_ratio`` the same with medians.

    python -m benchmarks.run --only backends [--quick]
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

# Prompts of one T5 length (3 tokens with the tiny tokenizer): on them diffusers' AudioLDM2Pipeline
# encodes the batch as the backend does (for prompts of mixed lengths the bare pipeline is not
# batch-independent; see baton.backends.audioldm2).
PROMPTS = ["rain falls", "bell rings", "dog barks", "wind blows"]
SEEDS = [11, 12, 13, 14]


def _time_pair(ours, direct, repeats: int) -> tuple[list[float], list[float]]:
    ours(), direct()  # warm-up
    ours_times, direct_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        ours()
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        direct()
        direct_times.append(time.perf_counter() - start)
    return ours_times, direct_times


def _compare(ours, direct, repeats: int, clips: int, **extra) -> dict:
    a, b = ours(), direct()
    max_diff = max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))
    ours_times, direct_times = _time_pair(ours, direct, repeats)
    # Best of N (timeit's rule: the fastest run is the one the machine's other load slowed least),
    # and the median as a second view.
    ours_s, direct_s = min(ours_times), min(direct_times)
    return {
        "identical_audio": all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)),
        "max_abs_difference": max_diff,
        "peak": max(float(np.abs(x).max()) for x in a),
        "ours_seconds_per_batch": round(ours_s, 5),
        "direct_seconds_per_batch": round(direct_s, 5),
        "ours_clips_per_second": round(clips / ours_s, 2),
        "direct_clips_per_second": round(clips / direct_s, 2),
        "throughput_ratio": round(direct_s / ours_s, 3),
        "median_throughput_ratio": round(statistics.median(direct_times) / statistics.median(ours_times), 3),
        **extra,
    }


def _generators(seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def bench_audioldm2(steps: int, repeats: int) -> dict:
    from baton.backends.audioldm2 import AudioLDM2Backend
    from baton.backends.base import GenerationSettings
    from baton.backends.tiny import tiny_audioldm2_pipeline

    settings = GenerationSettings(steps=steps, guidance_scale=3.5, duration=0.32)
    backend = AudioLDM2Backend(tiny_audioldm2_pipeline(seed=0), default_settings=settings)
    pipe = backend.pipe

    def direct():
        out = pipe(
            prompt=PROMPTS,
            num_inference_steps=steps,
            guidance_scale=3.5,
            audio_length_in_s=0.32,
            generator=_generators(SEEDS),
            output_type="np",
        )
        return list(out.audios)

    return _compare(
        lambda: backend.generate(PROMPTS, SEEDS),
        direct,
        repeats,
        len(PROMPTS),
        direct_call="AudioLDM2Pipeline.__call__",
    )


def bench_stable_audio(steps: int, repeats: int) -> dict:
    from baton.backends.base import GenerationSettings
    from baton.backends.stable_audio import StableAudioBackend
    from baton.backends.tiny import tiny_stable_audio_pipeline

    settings = GenerationSettings(steps=steps, guidance_scale=7.0, duration=0.5)
    backend = StableAudioBackend(tiny_stable_audio_pipeline(seed=0), default_settings=settings)
    pipe = backend.pipe

    def direct():
        out = pipe(
            prompt=PROMPTS,
            num_inference_steps=steps,
            guidance_scale=7.0,
            audio_end_in_s=0.5,
            generator=_generators(SEEDS),
            output_type="np",
        )
        return [stereo.mean(axis=0) for stereo in out.audios]

    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Should have t[ab]", category=UserWarning)
        return _compare(
            lambda: backend.generate(PROMPTS, SEEDS),
            direct,
            repeats,
            len(PROMPTS),
            direct_call="StableAudioPipeline.__call__ (channels averaged)",
        )


def bench_tango(steps: int, repeats: int) -> dict:
    from baton.backends.base import GenerationSettings
    from baton.backends.tiny import tiny_tango

    backend = tiny_tango(seed=0)
    duration, guidance = 0.32, 3.0
    settings = GenerationSettings(steps=steps, guidance_scale=guidance, duration=duration)

    @torch.no_grad()
    def direct():
        # Tango's AudioDiffusion.inference + decode, over the backend's modules.
        tokens = backend.tokenizer([""] * len(PROMPTS) + PROMPTS, padding=True, return_tensors="pt")
        states = backend.text_encoder(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask)[0]
        mask = tokens.attention_mask.bool()
        generators = _generators(SEEDS)
        frames = 320  # 0.32 s at a hop of 16 samples, already a multiple of the 4 the VAE and UNet need
        latents = torch.cat([torch.randn((1, 4, frames // 2, 4), generator=g) for g in generators])
        scheduler = backend.scheduler.__class__.from_config(backend.scheduler.config)
        scheduler.set_timesteps(steps)
        for t in scheduler.timesteps:
            out = backend.unet(
                torch.cat([latents, latents]), t, encoder_hidden_states=states, encoder_attention_mask=mask
            ).sample
            uncond, cond = out.chunk(2)
            latents = scheduler.step(
                uncond + guidance * (cond - uncond), t, latents, generator=generators
            ).prev_sample
        mel = backend.vae.decode(latents / backend.vae.config.scaling_factor).sample
        audio = backend.vocoder(mel[:, 0])
        return [a.numpy().astype(np.float32) for a in audio[:, : round(duration * 16000)]]

    return _compare(
        lambda: backend.generate(PROMPTS, SEEDS, settings),
        direct,
        repeats,
        len(PROMPTS),
        direct_call="Tango's inference loop written out over the same modules",
    )


def run(quick: bool = False) -> dict:
    steps, repeats = (4, 3) if quick else (25, 9)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = {
            "settings": {"prompts": len(PROMPTS), "steps": steps, "repeats": repeats, "torch_threads": 1},
            "audioldm2": bench_audioldm2(steps, repeats),
            "stable-audio": bench_stable_audio(steps, repeats),
            "tango": bench_tango(steps, repeats),
        }
    finally:
        torch.set_num_threads(threads)
    results["all_identical"] = all(
        results[k]["identical_audio"] for k in ("audioldm2", "stable-audio", "tango")
    )
    results["min_throughput_ratio"] = min(
        results[k]["throughput_ratio"] for k in ("audioldm2", "stable-audio", "tango")
    )
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2))
