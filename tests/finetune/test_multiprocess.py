"""``accelerate launch --multi_gpu --num_processes 2 -m baton finetune`` on two CPU workers (gloo).

Each worker takes half of every batch (with the noise and timesteps one process would draw for
those rows) and their gradients are averaged, so two workers train one model: the one a single
process trains, up to float rounding of the gradient sums.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from baton.backends import load_backend
from baton.finetune import FinetuneConfig, finetune
from tests.tracking import logged_as_in, scalars

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(folder):
    return {k: v.detach().clone() for k, v in load_backend("world", folder).denoiser.state_dict().items()}


def test_two_cpu_processes_train_one_model(tmp_path, feedback, tiny_world):
    labels, rewards = feedback
    base = str(tiny_world / "t2a")
    settings = {"steps": 3, "batch_size": 4, "pretrain_batch_size": 2, "grad_accum": 2, "learning_rate": 1e-3}
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        # accelerate's torchrun launcher; its --cpu launcher starts one process unless MPI is set up
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        "-m", "baton", "finetune", "--method", "baton", "--backend", "world", "--model", base,
        "--labels", str(labels), "--rewards", str(rewards), "--out", str(tmp_path / "two"),
        "--steps", "3", "--batch-size", "4", "--pretrain-batch-size", "2", "--grad-accum", "2",
        "--lr", "1e-3", "--select", "last", "--no-progress", "--report-to", "tensorboard",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "two" / "finetune.json").read_text())
    assert summary["processes"] == 2 and summary["status"] == "done"
    # The main process alone tracks: one writer, holding the (process-averaged) lines of train_log.jsonl.
    rows = [json.loads(line) for line in (tmp_path / "two" / "train_log.jsonl").read_text().splitlines()]
    run = tmp_path / "two" / "tracking" / "baton-finetune"
    assert len(list(run.glob("events.out.tfevents.*"))) == 1
    assert scalars(run) == logged_as_in(rows, "step")

    finetune(
        FinetuneConfig(
            method="baton",
            model=base,
            labels=labels,
            rewards=rewards,
            out=tmp_path / "one",
            select="last",
            progress=False,
            **settings,
        )  # fmt: skip
    )
    start, one, two = (
        _weights(base),
        _weights(tmp_path / "one" / "model"),
        _weights(tmp_path / "two" / "model"),
    )
    moved = max(float((one[k] - start[k]).abs().max()) for k in start)
    apart = max(float((one[k] - two[k]).abs().max()) for k in start)
    assert moved > 1e-4  # training moved the weights...
    assert apart < 0.02 * moved  # ...and two workers moved them where one process did
    losses_one = [
        r["loss"] for r in map(json.loads, (tmp_path / "one" / "train_log.jsonl").read_text().splitlines())
    ]
    losses_two = [
        r["loss"] for r in map(json.loads, (tmp_path / "two" / "train_log.jsonl").read_text().splitlines())
    ]
    assert torch.allclose(torch.tensor(losses_one), torch.tensor(losses_two), rtol=1e-3)
