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
