import math
import platform

import torch

from baton.workers import cpu_model, map_side_by_side, with_threads


def test_side_by_side_keeps_the_order_the_thread_count_and_each_failure_in_its_place():
    results = map_side_by_side(math.sqrt, [(4.0,), (-1.0,), (9.0,)], jobs=2, threads=1)
    assert results[0] == 2.0 and results[2] == 3.0
    assert isinstance(results[1], ValueError)  # one failure costs none of the other results
    assert map_side_by_side(torch.get_num_threads, [(), ()], jobs=2, threads=1) == [1, 1]


def test_one_job_runs_here_and_puts_the_thread_count_back():
    before = torch.get_num_threads()
    assert map_side_by_side(torch.get_num_threads, [(), ()], jobs=1, threads=1) == [1, 1]
    assert with_threads(None, torch.get_num_threads) == before
    assert torch.get_num_threads() == before
    results = map_side_by_side(math.sqrt, [(-1.0,), (16.0,)], jobs=1, threads=None)
    assert isinstance(results[0], ValueError) and results[1] == 4.0


def test_cpu_model_reads_the_model_name_and_falls_back_to_platform(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n"
    )
    assert cpu_model(str(cpuinfo)) == "AMD EPYC 7B13"
    assert cpu_model(str(tmp_path / "missing")) == (platform.processor() or platform.machine())


def test_check_device_accepts_what_this_machine_has_and_names_what_it_has_otherwise(monkeypatch):
    import pytest

    import baton.workers
    from baton.errors import InputError
    from baton.workers import available_devices, check_device

    assert available_devices()[0] == "cpu"
    assert check_device("cpu") == "cpu" and check_device("cpu:0") == "cpu"
    for bad, says in (("potato", "is not a device"), ("cuda:x", "is not a device"), ("", "is not a device"),
                      ("meta", "does not run on")):  # fmt: skip
        with pytest.raises(InputError, match=says) as error:
            check_device(bad)
        assert error.value.field == "device" and "this machine has cpu" in str(error.value)

    # A machine with one GPU: cuda and cuda:0 are there, cuda:3 and mps are not.
    monkeypatch.setattr(baton.workers, "available_devices", lambda: ["cpu", "cuda:0"])
    assert check_device("cuda") == "cuda" and check_device("cuda:0") == "cuda:0"
    for missing in ("cuda:3", "mps"):
        with pytest.raises(InputError, match="is not available") as error:
            check_device(missing)
        assert error.value.field == "device" and "this machine has cpu, cuda:0" in str(error.value)

    # A CPU-only torch (this one): no CUDA at all.
    monkeypatch.setattr(baton.workers, "available_devices", lambda: ["cpu"])
    with pytest.raises(InputError, match="torch finds no cuda device") as error:
        check_device("cuda", field="settings.device")
    assert error.value.field == "settings.device"
