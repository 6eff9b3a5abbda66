"""Tiny random-weight versions of the real backends, built in code: for tests, benchmarks, smoke runs.

No weights can be downloaded on a CI machine (or this one), so every real backend is exercised on
models with the real architecture and a few thousand to a few hundred thousand random weights, as
diffusers' own tests do. Tokenizers are built from a small word list (no hub files either).

    backend = tiny_tango()               # a TangoBackend, 16 kHz, 0.08 s clips
    pipe = tiny_audioldm2_pipeline()     # a diffusers AudioLDM2Pipeline
    pipe = tiny_stable_audio_pipeline()  # a diffusers StableAudioPipeline

Every builder is seeded: the same call gives the same weights.
"""

from __future__ import annotations

import string
from typing import Any

import torch
from diffusers import (
    AudioLDM2Pipeline,
    AudioLDM2ProjectionModel,
    AudioLDM2UNet2DConditionModel,
    AutoencoderKL,
    AutoencoderOobleck,
    CosineDPMSolverMultistepScheduler,
    DDIMScheduler,
    DDPMScheduler,
    StableAudioDiTModel,
    StableAudioPipeline,
    StableAudioProjectionModel,
    UNet2DConditionModel,
)
from transformers import (
    ClapAudioConfig,
    ClapConfig,
    ClapFeatureExtractor,
    ClapModel,
    ClapTextConfig,
    GPT2Config,
    GPT2LMHeadModel,
    RobertaTokenizer,
    SpeechT5HifiGan,
    SpeechT5HifiGanConfig,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
)

from baton.audio import MelConfig
from baton.backends import tango_convert as tc
from baton.backends.base import GenerationSettings
from baton.backends.tango import TangoBackend

_WORD_TEXT = (
    "a an the and then while after before with of in on at to from by is are followed finally first "
    "dog dogs bark barks barking cat meows bird birds chirp chirps sing singing bell rings ringing "
    "rain falls falling wind blows engine hum hums car passes siren wails knock knocks door closes "
    "man woman speaks speaking people talk talking crowd cheers music plays water flows splash beep "
    "beeps click clicks tone chirp knock noise burst hammer hitting wooden surface loud quiet soft "
    "distant near"
)
WORDS = _WORD_TEXT.split()

TINY_SETTINGS = GenerationSettings(steps=3, guidance_scale=3.0, duration=0.08, negative_prompt="")


def tiny_t5_tokenizer(model_max_length: int = 24) -> Any:
    """A T5 (Unigram) tokenizer over ``WORDS`` plus single characters, so any text tokenizes."""
    pieces = ["<pad>", "</s>", "<unk>"] + [f"\u2581{w}" for w in WORDS]
    pieces += ["\u2581"] + list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = [(piece, -float(i) / 10) if i >= 3 else (piece, 0.0) for i, piece in enumerate(pieces)]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=model_max_length)


def tiny_roberta_tokenizer(model_max_length: int = 64) -> Any:
    """A byte-level BPE (RoBERTa) tokenizer with single characters only."""
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for ch in string.ascii_lowercase + string.digits + string.punctuation + "\u0120":
        vocab.setdefault(ch, len(vocab))
    return RobertaTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


def _t5_encoder(vocab_size: int, d_model: int = 16) -> Any:
    config = T5Config(
        vocab_size=vocab_size,
        d_model=d_model,
        d_ff=32,
        d_kv=8,
        num_heads=2,
        num_layers=1,
        num_decoder_layers=1,
    )
    return T5EncoderModel(config)


def tiny_clap_text_config(tokenizer: Any) -> Any:
    """The text half of a tiny ``ClapModel``: a 1-layer RoBERTa of width 16 over ``tokenizer``."""
    return ClapTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_attention_heads=2,
        num_hidden_layers=1,
        max_position_embeddings=tokenizer.model_max_length + 2,
        projection_dim=16,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
    )


def tiny_mel() -> MelConfig:
    """16 kHz, 16-sample hop (the tiny vocoder's upsampling), 8 mel bands."""
    return MelConfig(sample_rate=16000, n_fft=64, win_length=64, hop_length=16, n_mels=8, f_max=8000.0)


def tiny_vocoder(n_mels: int = 8, upsample_rates: tuple[int, ...] = (4, 4)) -> Any:
    return SpeechT5HifiGan(
        SpeechT5HifiGanConfig(
            model_in_dim=n_mels,
            sampling_rate=16000,
            upsample_initial_channel=16,
            upsample_rates=list(upsample_rates),
            upsample_kernel_sizes=[2 * r for r in upsample_rates],
            resblock_kernel_sizes=[3],
            resblock_dilation_sizes=[[1, 3, 5]],
            normalize_before=False,
        )
    )


def tiny_audioldm_vae(latent_channels: int = 4) -> Any:
    """AudioLDM's VAE shape in small: 2 levels of 32/64 channels (AudioLDM's GroupNorm has 32 groups)."""
    return AutoencoderKL(
        in_channels=1,
        out_channels=1,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        block_out_channels=[32, 64],
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=32,
        sample_size=32,
        scaling_factor=0.9227914214134216,
    )


def tiny_tango_unet(cross_attention_dim: int = 16, channels: int = 4) -> Any:
    """Tango's UNet shape in small (linear projections and upcast attention, as Tango's config)."""
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=channels,
        out_channels=channels,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        cross_attention_dim=cross_attention_dim,
        attention_head_dim=4,
        use_linear_projection=True,
        upcast_attention=True,
    )


def tiny_tango(seed: int = 0, device: str = "cpu") -> Any:
    """A :class:`~baton.backends.tango.TangoBackend` with Tango's architecture and scheduler, tiny."""
    torch.manual_seed(seed)
    tokenizer = tiny_t5_tokenizer()
    return TangoBackend(
        unet=tiny_tango_unet(),
        text_encoder=_t5_encoder(len(tokenizer)),
        tokenizer=tokenizer,
        vae=tiny_audioldm_vae(),
        vocoder=tiny_vocoder(),
        scheduler=DDPMScheduler(**tc.TANGO_SCHEDULER_CONFIG),
        mel=tiny_mel(),
        default_settings=TINY_SETTINGS,
        device=device,
    )


def tiny_audioldm2_pipeline(seed: int = 0) -> Any:
    """A diffusers ``AudioLDM2Pipeline`` of tiny random parts (CLAP, T5, GPT-2, UNet, VAE, HiFi-GAN)."""
    torch.manual_seed(seed)
    tokenizer = tiny_roberta_tokenizer()
    tokenizer_2 = tiny_t5_tokenizer()
    text_config = tiny_clap_text_config(tokenizer)
    audio_config = ClapAudioConfig(
        spec_size=64,
        window_size=4,
        num_mel_bins=64,
        intermediate_size=32,
        depths=[1, 1],
        num_attention_heads=[2, 2],
        num_hidden_layers=2,
        hidden_size=32,
        projection_dim=16,
        patch_size=2,
        patch_stride=2,
        patch_embed_input_channels=4,
    )
    clap = ClapModel(
        ClapConfig(text_config=text_config.to_dict(), audio_config=audio_config.to_dict(), projection_dim=16)
    )
    language_model = GPT2LMHeadModel(
        GPT2Config(
            n_embd=16,
            n_head=2,
            n_layer=1,
            vocab_size=8,
            n_positions=64,
            n_ctx=64,
            bos_token_id=0,
            eos_token_id=0,
        )
    )
    language_model.config.max_new_tokens = 4
    unet = AudioLDM2UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=([None, 16, 16], [None, 16, 16]),
        attention_head_dim=4,
    )
    return AudioLDM2Pipeline(
        vae=tiny_audioldm_vae(),
        text_encoder=clap,
        text_encoder_2=_t5_encoder(len(tokenizer_2)),
        projection_model=AudioLDM2ProjectionModel(
            text_encoder_dim=16, text_encoder_1_dim=16, langauge_model_dim=16
        ),
        language_model=language_model,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        feature_extractor=ClapFeatureExtractor(
            feature_size=64, sampling_rate=16000, hop_length=160, frequency_min=0, frequency_max=8000
        ),
        unet=unet,
        scheduler=DDIMScheduler(
            beta_start=0.0015,
            beta_end=0.0195,
            beta_schedule="scaled_linear",
            clip_sample=False,
            set_alpha_to_one=False,
            steps_offset=1,
        ),
        vocoder=tiny_vocoder(),
    )


def tiny_stable_audio_pipeline(seed: int = 0) -> Any:
    """A diffusers ``StableAudioPipeline`` of tiny random parts (T5, DiT, Oobleck VAE), 64 Hz stereo."""
    torch.manual_seed(seed)
    tokenizer = tiny_t5_tokenizer()
    text_encoder = _t5_encoder(len(tokenizer))
    transformer = StableAudioDiTModel(
        sample_size=16,
        in_channels=3,
        num_layers=2,
        attention_head_dim=4,
        num_attention_heads=2,
        num_key_value_attention_heads=2,
        out_channels=3,
        cross_attention_dim=4,
        time_proj_dim=8,
        global_states_input_dim=8,
        cross_attention_input_dim=4,
    )
    vae = AutoencoderOobleck(
        encoder_hidden_size=6,
        downsampling_ratios=[1, 2],
        decoder_channels=3,
        decoder_input_channels=3,
        audio_channels=2,
        channel_multiples=[2, 4],
        sampling_rate=64,
    )
    return StableAudioPipeline(
        vae=vae,
        text_encoder=text_encoder,
        projection_model=StableAudioProjectionModel(
            text_encoder_dim=text_encoder.config.d_model, conditioning_dim=4, min_value=0, max_value=32
        ),
        tokenizer=tokenizer,
        transformer=transformer,
        scheduler=CosineDPMSolverMultistepScheduler(
            solver_order=2, prediction_type="v_prediction", sigma_data=1.0, sigma_schedule="exponential"
        ),
    )
