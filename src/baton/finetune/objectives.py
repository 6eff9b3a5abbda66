"""BATON, Diffusion-DPO and SFT as training objectives over the backend protocol.

Each objective turns "micro-batch number g" into a loss on this process's share of the rows:

1. its batch rows come from :class:`~baton.finetune.data.Stream` positions g * B .. (g + 1) * B;
2. timesteps and noise for the whole global batch come from a generator seeded with (seed, g), and
   each process takes its contiguous slice, so N processes see exactly the rows, noise and
   timesteps one process would, and a resumed run sees what the uninterrupted one would have;
3. one forward pass of the denoiser over every row of the slice, then the loss of
   :mod:`baton.finetune.losses`.

The mean over a process's slice, averaged over equal slices, is the mean over the global batch, so
averaging gradients across processes gives the one-process gradient.

Validation is the same objective at one fixed timestep (BATON: T/2) with noise fixed per held-out
clip or pair, so that its value moves only with the weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from baton.diffusion import classifier_free_guidance, denoising_target, min_snr_weights, signal_to_noise
from baton.errors import InputError
from baton.finetune.data import Stream
from baton.finetune.encode import conditioning_to
from baton.finetune.losses import (
    diffusion_dpo_loss,
    dpo_implicit_accuracy,
    per_sample_loss,
    reward_weighted_loss,
    supervised_loss,
)

if TYPE_CHECKING:
    from baton.backends.base import T2ABackend, TextConditioning
    from baton.finetune.config import FinetuneConfig
    from baton.finetune.encode import TextTable


def mix_seed(*parts: object) -> int:
    """A 63-bit seed from any parts (stable across processes and runs, unlike ``hash``)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


@dataclass
class Tables:
    """Every clip's encodings: x0 [N, ...], caption index [N] into ``text``, reward [N].

    ``text`` holds the captions' states, computed once while the text encoder is frozen and per batch
    when it trains (``FinetuneConfig.train_text_encoder``).

    ``empty_index`` is the index in ``text`` of the empty prompt, which a row whose caption is
    dropped (``FinetuneConfig.text_dropout``) is conditioned on instead.
    """

    x0: torch.Tensor
    text: TextTable
    text_index: torch.Tensor
    rewards: torch.Tensor
    empty_index: int | None = None


@dataclass
class Processes:
    rank: int = 0
    count: int = 1

    def share(self, rows: int) -> slice:
        """This process's contiguous slice of a global batch of ``rows`` (a multiple of ``count``)."""
        per = rows // self.count
        return slice(self.rank * per, (self.rank + 1) * per)


# --- the denoiser through the protocol -------------------------------------------------------------


class _PredictCall(torch.nn.Module):
    """``backend.predict`` as a module whose parameters are the denoiser's (for ``functional_call``)."""

    def __init__(self, backend: T2ABackend) -> None:
        super().__init__()
        self.denoiser = backend.denoiser
        self._predict = backend.predict

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor, text: TextConditioning) -> torch.Tensor:
        return self._predict(noisy, timesteps, text)


class FrozenReference:
    """The denoiser as it was before training (Diffusion-DPO's reference), never updated.

    With LoRA the base weights are frozen anyway: the reference is the model with its adapters
    switched off. Otherwise a copy of the starting weights is swapped in for the call with
    ``torch.func.functional_call``, so the backend's own ``predict`` runs on them. When the text
    encoder trains too, ``text`` holds the captions' states from the starting encoder, which the
    reference is conditioned on (``None``: the training run's own table).
    """

    def __init__(
        self, backend: T2ABackend, lora_layers: list[Any] | None = None, text: TextTable | None = None
    ) -> None:
        self.backend = backend
        self.lora_layers = lora_layers
        self.text = text
        self.call = _PredictCall(backend)
        self.params = None
        if lora_layers is None:
            self.params = {
                f"denoiser.{name}": p.detach().clone() for name, p in backend.denoiser.named_parameters()
            }

    @torch.no_grad()
    def predict(self, noisy: torch.Tensor, timesteps: torch.Tensor, text: TextConditioning) -> torch.Tensor:
        if self.params is None:
            with adapters_disabled(self.lora_layers or []):
                return self.backend.predict(noisy, timesteps, text)
        return torch.func.functional_call(self.call, self.params, (noisy, timesteps, text), strict=False)


@contextmanager
def adapters_disabled(layers: list[Any]):
    for layer in layers:
        layer.enable_adapters(False)
    try:
        yield
    finally:
        for layer in layers:
            layer.enable_adapters(True)


class Denoising:
    """Per-clip denoising losses of table rows at given timesteps and noise."""

    def __init__(
        self,
        backend: T2ABackend,
        tables: Tables,
        config: FinetuneConfig,
        device: torch.device,
        autocast: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        self.backend = backend
        self.tables = tables
        self.scheduler = backend.noise_scheduler
        self.num_timesteps = int(self.scheduler.config.num_train_timesteps)
        self.prediction_type = self.scheduler.config.prediction_type
        self.alphas_cumprod = self.scheduler.alphas_cumprod.float()
        self.gamma = config.snr_gamma
        self.variant = config.snr_weighting
        # The noisiest steps' weight: as asked, else as the backend was pretrained (a backend may
        # say so with an `snr_floor` attribute; the world model reads it from its training record).
        self.floor = config.snr_floor
        if self.floor is None:
            pretrained = float(getattr(backend, "snr_floor", 0.0))
            self.floor = pretrained if self.variant == "min-snr" else 0.0
        self.device = device
        self.autocast = autocast
        self.sample_shape = tuple(tables.x0.shape[1:])
        first = round(config.timestep_low * self.num_timesteps)
        self.timestep_range = (first, max(first + 1, round(config.timestep_high * self.num_timesteps)))
        self.text_dropout = config.text_dropout
        self.guidance = config.train_guidance
        self.guidance_rescale = config.train_guidance_rescale
        if (self.text_dropout > 0 or self.guidance != 1.0) and tables.empty_index is None:
            raise ValueError(
                "dropout and guidance need the empty prompt in the text table (Tables.empty_index)"
            )

    def draw(self, seed: int, rows: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Timesteps [rows] (in the config's ``timestep_low`` to ``timestep_high`` of the schedule), noise [rows, ...]
        and whether each row's caption is dropped [rows].

        All three come from one generator seeded with ``seed``, in that order, so the timesteps and
        noise do not depend on the dropout rate.
        """
        generator = torch.Generator().manual_seed(seed)
        timesteps = torch.randint(*self.timestep_range, (rows,), generator=generator)
        noise = torch.randn((rows, *self.sample_shape), generator=generator)
        dropped = torch.rand(rows, generator=generator) < self.text_dropout
        return timesteps, noise, dropped

    def losses(
        self,
        rows: torch.Tensor,
        timesteps: torch.Tensor,
        noise: torch.Tensor,
        *,
        weighted: bool,
        predict: Callable[..., torch.Tensor] | None = None,
        dropped: torch.Tensor | None = None,
        guided: torch.Tensor | bool = False,
        text_table: TextTable | None = None,
    ) -> torch.Tensor:
        """L [b] for table rows [b]: x_t from x0 and noise, the prediction, its target, squared error.

        Rows where ``dropped`` [b] is true are conditioned on the empty prompt instead of their caption;
        rows where ``guided`` [b] (or every row, for ``True``) is true are predicted with guidance at
        ``train_guidance`` (:meth:`_guided`). ``text_table``: where the captions' states come from
        (default: the run's own, ``tables.text``).
        """
        table = text_table or self.tables.text
        x0 = self.tables.x0[rows].to(self.device)
        noise = noise.to(self.device)
        timesteps = timesteps.to(self.device)
        captions = self.tables.text_index[rows]
        if dropped is not None and bool(dropped.any()):
            captions = torch.where(dropped, self.tables.empty_index, captions)
        noisy = self.scheduler.add_noise(x0, noise, timesteps)
        predict = predict or self.backend.predict
        text = conditioning_to(table.batch(captions), self.device)
        with self.autocast():
            prediction = predict(noisy, timesteps, text)
        if self.guidance != 1.0:
            if isinstance(guided, bool):
                guided = torch.full((len(rows),), guided)
            if bool(guided.any()):
                prediction = self._guided(
                    prediction, noisy, timesteps, guided.to(self.device), predict, table
                )
        target = denoising_target(self.scheduler, x0, noise, timesteps)
        weights = None
        if weighted:
            snr = signal_to_noise(self.alphas_cumprod, timesteps.cpu())
            weights = min_snr_weights(snr, self.gamma, self.prediction_type, self.variant, self.floor)
        return per_sample_loss(prediction, target, weights)

    def _guided(
        self,
        prediction: torch.Tensor,
        noisy: torch.Tensor,
        timesteps: torch.Tensor,
        rows: torch.Tensor,
        predict: Callable[..., torch.Tensor],
        table: TextTable,
    ) -> torch.Tensor:
        """``prediction`` with the ``rows`` [b] replaced by guidance's u + s (c - u), u held fixed.

        The caption's prediction c then learns to move the guided one, which sampling uses, onto the
        clip. Fitting c itself to a clip sampled with guidance makes guidance overshoot again when the
        tuned model samples; training u as well would push the one prediction every prompt shares
        away from the good clips.
        """
        empty = torch.full((int(rows.sum()),), self.tables.empty_index, dtype=torch.long)
        with torch.no_grad(), self.autocast():
            text = conditioning_to(table.batch(empty), self.device)
            unconditional = predict(noisy[rows], timesteps[rows], text)
        fitted = classifier_free_guidance(
            unconditional, prediction[rows], self.guidance, self.guidance_rescale
        )
        prediction = prediction.clone()
        prediction[rows] = fitted
        return prediction


# --- objectives -------------------------------------------------------------------------------------


class Objective:
    """What a method needs: a loss per micro-batch, a validation loss, and the counts it trains on."""

    name = ""

    def __init__(self, denoising: Denoising, config: FinetuneConfig, processes: Processes) -> None:
        self.denoising = denoising
        self.config = config
        self.processes = processes
        self.val_timestep = (
            config.val_timestep if config.val_timestep is not None else denoising.num_timesteps // 2
        )
        if not 0 <= self.val_timestep < denoising.num_timesteps:
            raise InputError(
                f"must be in [0, {denoising.num_timesteps - 1}], got {self.val_timestep}",
                field="val_timestep",
            )

    def train_loss(self, micro: int) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def validation_sums(self) -> torch.Tensor | None:
        """Sums over this process's share of the held-out items (reduced across processes by the caller)."""
        raise NotImplementedError

    def validation_loss(self, sums: torch.Tensor) -> float:
        raise NotImplementedError

    # helpers
    def _fixed_noise(self, count: int, name: str) -> torch.Tensor:
        generator = torch.Generator().manual_seed(mix_seed(self.config.seed, "validation", name))
        return torch.randn((count, *self.denoising.sample_shape), generator=generator)

    def _my_items(self, count: int) -> np.ndarray:
        return np.arange(self.processes.rank, count, self.processes.count)

    def _chunks(self, items: np.ndarray):
        size = max(1, self.config.batch_size // self.processes.count)
        for start in range(0, len(items), size):
            yield items[start : start + size]


class BatonObjective(Objective):
    """loss = mean_i(r_i L_i) over a feedback batch + beta * mean_j(L_j) over a pretraining batch."""

    name = "baton"

    def __init__(
        self,
        denoising: Denoising,
        config: FinetuneConfig,
        processes: Processes,
        *,
        human: np.ndarray,
        reward: np.ndarray,
        pretrain: np.ndarray,
        val_feedback: np.ndarray,
        val_pretrain: np.ndarray,
    ) -> None:
        super().__init__(denoising, config, processes)
        seed, batch = config.seed, config.batch_size
        self.sources: list[tuple[np.ndarray, Stream, int]] = []  # (rows, stream, rows per micro-batch)
        if config.human_share is None:
            feedback = np.concatenate([human, reward])
            self.sources.append((feedback, Stream(len(feedback), seed, "feedback"), batch))
        else:
            from_human = round(config.human_share * batch)
            for rows, name, count in ((human, "human", from_human), (reward, "reward", batch - from_human)):
                if count:
                    self.sources.append((rows, Stream(len(rows), seed, name), count))
        self.pretrain = pretrain if config.uses_pretrain else np.zeros(0, dtype=np.int64)
        self.pretrain_batch = config.micro_pretrain_batch if len(self.pretrain) else 0
        self.pretrain_stream = Stream(len(self.pretrain), seed, "pretrain") if len(self.pretrain) else None
        self.val_feedback = val_feedback
        self.val_pretrain = val_pretrain if config.uses_pretrain else np.zeros(0, dtype=np.int64)
        self.val_noise_feedback = self._fixed_noise(len(val_feedback), "feedback")
        self.val_noise_pretrain = self._fixed_noise(len(self.val_pretrain), "pretrain")

    def _global_rows(self, micro: int) -> tuple[np.ndarray, np.ndarray]:
        feedback = np.concatenate(
            [rows[stream.take(micro * count, count)] for rows, stream, count in self.sources]
        )
        pretrain = np.zeros(0, dtype=np.int64)
        if self.pretrain_stream is not None:
            positions = self.pretrain_stream.take(micro * self.pretrain_batch, self.pretrain_batch)
            pretrain = self.pretrain[positions]
        return feedback, pretrain

    def train_loss(self, micro: int) -> tuple[torch.Tensor, dict[str, float]]:
        feedback, pretrain = self._global_rows(micro)
        n_fb, n_pt = len(feedback), len(pretrain)
        timesteps, noise, dropped = self.denoising.draw(
            mix_seed(self.config.seed, "micro", micro), n_fb + n_pt
        )
        mine_fb, mine_pt = self.processes.share(n_fb), self.processes.share(n_pt)
        rows = torch.from_numpy(np.concatenate([feedback[mine_fb], pretrain[mine_pt]]))
        t, eps, drop = (
            torch.cat([x[:n_fb][mine_fb], x[n_fb:][mine_pt]]) for x in (timesteps, noise, dropped)
        )
        b = mine_fb.stop - mine_fb.start
        # one pass over both batches; the feedback rows (the first b) are the guided ones
        guided = torch.arange(len(rows)) < b
        losses = self.denoising.losses(rows, t, eps, weighted=True, dropped=drop, guided=guided)
        rewards = self.denoising.tables.rewards[rows[:b]]
        pretrain_losses = losses[b:] if n_pt else None
        loss = reward_weighted_loss(losses[:b], rewards, pretrain_losses, self.config.beta)
        metrics = {"feedback_loss": float((rewards.to(losses.device) * losses[:b].detach()).mean())}
        if n_pt:
            metrics["pretrain_loss"] = float(losses[b:].detach().mean())
        return loss, metrics

    @torch.no_grad()
    def validation_sums(self) -> torch.Tensor | None:
        if not len(self.val_feedback) and not len(self.val_pretrain):
            return None
        sums = torch.zeros(4, dtype=torch.float64)  # sum r L, count, sum L (pretrain), count
        for column, rows_all, noise_all in (
            (0, self.val_feedback, self.val_noise_feedback),
            (2, self.val_pretrain, self.val_noise_pretrain),
        ):
            for items in self._chunks(self._my_items(len(rows_all))):
                rows = torch.from_numpy(rows_all[items])
                t = torch.full((len(items),), self.val_timestep, dtype=torch.long)
                losses = self.denoising.losses(rows, t, noise_all[items], weighted=True, guided=column == 0)
                losses = losses.double().cpu()
                weights = self.denoising.tables.rewards[rows].double() if column == 0 else 1.0
                sums[column] += float((weights * losses).sum())
                sums[column + 1] += len(items)
        return sums

    def validation_loss(self, sums: torch.Tensor) -> float:
        value = 0.0
        if sums[1] > 0:
            value += float(sums[0] / sums[1])
        if sums[3] > 0:
            value += self.config.beta * float(sums[2] / sums[3])
        return value


class SftObjective(Objective):
    """mean_i(L_i) over clips labelled 1."""

    name = "sft"

    def __init__(
        self,
        denoising: Denoising,
        config: FinetuneConfig,
        processes: Processes,
        *,
        rows: np.ndarray,
        val: np.ndarray,
    ) -> None:
        super().__init__(denoising, config, processes)
        self.rows = rows
        self.stream = Stream(len(rows), config.seed, "sft")
        self.val = val
        self.val_noise = self._fixed_noise(len(val), "sft")

    def train_loss(self, micro: int) -> tuple[torch.Tensor, dict[str, float]]:
        batch = self.config.batch_size
        chosen = self.rows[self.stream.take(micro * batch, batch)]
        timesteps, noise, dropped = self.denoising.draw(mix_seed(self.config.seed, "micro", micro), batch)
        mine = self.processes.share(batch)
        losses = self.denoising.losses(
            torch.from_numpy(chosen[mine]),
            timesteps[mine],
            noise[mine],
            weighted=True,
            dropped=dropped[mine],
            guided=True,
        )
        return supervised_loss(losses), {}

    @torch.no_grad()
    def validation_sums(self) -> torch.Tensor | None:
        if not len(self.val):
            return None
        sums = torch.zeros(2, dtype=torch.float64)
        for items in self._chunks(self._my_items(len(self.val))):
            t = torch.full((len(items),), self.val_timestep, dtype=torch.long)
            losses = self.denoising.losses(
                torch.from_numpy(self.val[items]),
                t,
                self.val_noise[items],
                weighted=True,
                guided=True,
            )
            sums[0] += float(losses.double().sum())
            sums[1] += len(items)
        return sums

    def validation_loss(self, sums: torch.Tensor) -> float:
        return float(sums[0] / sums[1])


class DpoObjective(Objective):
    """Diffusion-DPO on (chosen, rejected) pairs: shared noise and timestep per pair, frozen reference."""

    name = "dpo"

    def __init__(
        self,
        denoising: Denoising,
        config: FinetuneConfig,
        processes: Processes,
        *,
        pairs: np.ndarray,
        val_pairs: np.ndarray,
        reference: FrozenReference,
    ) -> None:
        super().__init__(denoising, config, processes)
        self.pairs = pairs  # [P, 2] table rows (chosen, rejected)
        self.stream = Stream(len(pairs), config.seed, "pairs")
        self.val_pairs = val_pairs
        self.val_noise = self._fixed_noise(len(val_pairs), "pairs")
        self.reference = reference

    def _pair_losses(
        self,
        pairs: np.ndarray,
        timesteps: torch.Tensor,
        noise: torch.Tensor,
        dropped: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """(L_w, L_l, L_w_ref, L_l_ref), each [b]: both clips of a pair share noise, timestep and caption."""
        rows = torch.from_numpy(np.concatenate([pairs[:, 0], pairs[:, 1]]))
        t, eps = timesteps.repeat(2), noise.repeat(2, *([1] * (noise.ndim - 1)))
        drop = None if dropped is None else dropped.repeat(2)
        model = self.denoising.losses(rows, t, eps, weighted=False, dropped=drop, guided=True)
        with torch.no_grad():
            reference = self.denoising.losses(
                rows,
                t,
                eps,
                weighted=False,
                predict=self.reference.predict,
                dropped=drop,
                guided=True,
                text_table=self.reference.text,
            )
        b = len(pairs)
        return model[:b], model[b:], reference[:b], reference[b:]

    def train_loss(self, micro: int) -> tuple[torch.Tensor, dict[str, float]]:
        batch = self.config.batch_size
        pairs = self.pairs[self.stream.take(micro * batch, batch)]
        timesteps, noise, dropped = self.denoising.draw(mix_seed(self.config.seed, "micro", micro), batch)
        mine = self.processes.share(batch)
        lw, ll, rw, rl = self._pair_losses(pairs[mine], timesteps[mine], noise[mine], dropped[mine])
        loss = diffusion_dpo_loss(lw, ll, rw, rl, self.config.dpo_beta).mean()
        metrics = {
            "implicit_accuracy": float(dpo_implicit_accuracy(lw, ll, rw, rl)),
            "chosen_loss": float(lw.detach().mean()),
            "rejected_loss": float(ll.detach().mean()),
        }
        return loss, metrics

    @torch.no_grad()
    def validation_sums(self) -> torch.Tensor | None:
        if not len(self.val_pairs):
            return None
        sums = torch.zeros(2, dtype=torch.float64)
        for items in self._chunks(self._my_items(len(self.val_pairs))):
            t = torch.full((len(items),), self.val_timestep, dtype=torch.long)
            lw, ll, rw, rl = self._pair_losses(self.val_pairs[items], t, self.val_noise[items])
            sums[0] += float(diffusion_dpo_loss(lw, ll, rw, rl, self.config.dpo_beta).double().sum())
            sums[1] += len(items)
        return sums

    def validation_loss(self, sums: torch.Tensor) -> float:
        return float(sums[0] / sums[1])
