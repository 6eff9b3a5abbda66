"""A prompt id cannot make ``baton generate`` write outside --out; baton's own ids generate fine."""

from __future__ import annotations

import json

import pytest

from baton.artifacts import id_problem, write_records
from baton.errors import InputError
from baton.generation.run import GenerateConfig, run


@pytest.mark.parametrize("bad", ["../../../escaped", "../escaped", "a b/c", "/tmp/escaped"])
def test_an_escaping_prompt_id_writes_nothing(tmp_path, tone_backend, bad):
    work = tmp_path / "deep" / "er" / "work"
    work.mkdir(parents=True)
    prompts = work / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": bad, "text": "a beep"}) + "\n", encoding="utf-8")
    out = work / "gen"
    with pytest.raises(InputError) as error:
        run(GenerateConfig(prompts=prompts, out=out, backend="tone", per_prompt=1, progress=False))
    assert (error.value.path, error.value.line, error.value.field) == (str(prompts), 1, "id")
    assert tone_backend.calls == []
    assert not out.exists()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["prompts.jsonl"]


def test_world_and_curated_prompt_ids_make_safe_sample_ids(tmp_path, tone_backend):
    from baton.prompts.curate import curate_prompts
    from baton.prompts.vocabulary import load_vocabulary
    from baton.world.assess import heldout_prompts

    prompts = [p for group in heldout_prompts(3, 0).values() for p in group]
    prompts += curate_prompts(load_vocabulary("audiocaps200"), task="temporal", n=3, id_prefix="v2.temporal")
    path = tmp_path / "prompts.jsonl"
    write_records(path, prompts)
    out = tmp_path / "gen"
    samples = run(GenerateConfig(prompts=path, out=out, backend="tone", per_prompt=2, progress=False))
    assert len(samples) == 2 * len(prompts)
    assert all(id_problem(s.id) is None and id_problem(s.prompt_id) is None for s in samples)
    assert {p.parent for p in (out / "audio").iterdir()} == {out / "audio"}
