import json

import pytest

from baton.artifacts import Vote
from baton.errors import InputError
from baton.interchange.common import Notes
from baton.interchange.label_studio import CONFIG_FILE, read_label_studio, write_label_studio

from .helpers import three_labels, two_rewards, two_samples


def test_export_writes_tasks_and_the_labelling_config(tmp_path):
    labels = three_labels()
    out = tmp_path / "ls" / "tasks.json"
    assert write_label_studio(out, labels, records_path=tmp_path / "labels.jsonl") == 3
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert tasks[0]["id"] == 1
    assert tasks[0]["data"] == {
        "audio": "../audio/0088-0.wav",
        "text": "Birds chirp and tweet, followed by female singing",
        "prompt_id": "0088",
        "sample_id": "0088-0",
        "task": "integrity",
        "index": 0,
        "events": ["birds", "singing"],
    }
    first, second, third = tasks[0]["annotations"]
    assert first == {
        "result": [
            {"from_name": "match", "to_name": "audio", "type": "choices", "value": {"choices": ["Yes"]}}
        ],
        "was_cancelled": False,
        "ground_truth": False,
        "completed_by": {"email": "alice@example.com"},
        "lead_time": 4.5,
        "created_at": "2024-05-01T10:00:00Z",
    }
    assert second["completed_by"] == 7  # a Label Studio user id
    assert third["result"][0]["value"] == {"choices": ["No"]} and "lead_time" not in third

    config = (out.parent / CONFIG_FILE).read_text(encoding="utf-8")
    assert '<Audio name="audio" value="$audio"/>' in config
    assert '<Text name="text" value="$text"/>' in config
    assert '<Choices name="match" toName="audio" choice="single"' in config
    assert '<Choice value="Yes"/>' in config and '<Choice value="No"/>' in config


def test_votes_round_trip(tmp_path):
    labels = three_labels()
    out = tmp_path / "tasks.json"
    write_label_studio(out, labels, records_path=tmp_path / "labels.jsonl")
    kind, back = read_label_studio(out, out_dir=tmp_path)
    assert kind == "labels"
    for old, new in zip(labels, back, strict=True):
        assert new.votes == old.votes
        assert (new.sample_id, new.prompt_id, new.text, new.task, new.index, new.events, new.path) == (
            old.sample_id, old.prompt_id, old.text, old.task, old.index, old.events, old.path,
        )  # fmt: skip
        assert (new.label, new.mean) == (old.label, old.mean)


def test_audio_prefix_round_trip(tmp_path):
    out = tmp_path / "tasks.json"
    prefix = "/data/local-files/?d=clips/"
    write_label_studio(out, three_labels(), records_path=tmp_path / "labels.jsonl", audio_prefix=prefix)
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert tasks[0]["data"]["audio"] == "/data/local-files/?d=clips/audio/0088-0.wav"
    _, back = read_label_studio(out, out_dir=tmp_path, audio_prefix=prefix)
    assert back[0].path == "audio/0088-0.wav"
    _, kept = read_label_studio(out, out_dir=tmp_path)  # without the prefix the URL is kept as it is
    assert kept[0].path == "/data/local-files/?d=clips/audio/0088-0.wav"


def test_soft_votes_are_not_yes_or_no(tmp_path):
    label = three_labels()[1]
    soft = label.model_copy(update={"votes": [Vote(annotator="2label_RA", value=0.3)], "mean": 0.3})
    with pytest.raises(InputError, match="clip '0088-1' has a vote of 0.3, which is not a Yes/No choice"):
        write_label_studio(tmp_path / "t.json", [soft], records_path=tmp_path / "labels.jsonl")
    write_label_studio(tmp_path / "t.json", [soft], records_path=tmp_path / "labels.jsonl", with_votes=False)
    assert "annotations" not in json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))[0]


def test_rewards_become_predictions_and_samples_plain_tasks(tmp_path):
    write_label_studio(tmp_path / "r.json", two_rewards(), records_path=tmp_path / "rewards.jsonl")
    tasks = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert [t["predictions"][0]["score"] for t in tasks] == [0.75, 0.11920292202211755]
    assert [t["predictions"][0]["result"][0]["value"]["choices"] for t in tasks] == [["Yes"], ["No"]]
    write_label_studio(tmp_path / "s.json", two_samples(), records_path=tmp_path / "samples.jsonl")
    tasks = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert [sorted(t) for t in tasks] == [["data", "id"], ["data", "id"]]
    _, samples = read_label_studio(tmp_path / "s.json", out_dir=tmp_path, kind="samples")
    # A task carries the clip's identity, not how it was generated.
    unknown_generation = {"seed": None, "backend": "unknown", "sample_rate": None, "duration": None}
    assert samples == [s.model_copy(update=unknown_generation) for s in two_samples()]


# A JSON export the way Label Studio writes it (fields as in its "task format" documentation).
LABEL_STUDIO_EXPORT = """[
  {
    "id": 11,
    "data": {"audio": "/data/upload/3/0088_Birds chirp_0.wav", "text": "Birds chirp"},
    "annotations": [
      {
        "id": 101,
        "completed_by": 1,
        "result": [
          {"id": "a1", "from_name": "match", "to_name": "audio", "type": "choices", "value": {"choices": ["Yes"]}},
          {"id": "a2", "from_name": "notes", "to_name": "audio", "type": "textarea", "value": {"text": ["ok"]}}
        ],
        "was_cancelled": false,
        "ground_truth": false,
        "created_at": "2024-06-01T09:00:00.000000Z",
        "lead_time": 6.25,
        "task": 11
      },
      {
        "id": 102,
        "completed_by": {"id": 2, "email": "bob@example.com", "first_name": "", "last_name": ""},
        "result": [{"from_name": "match", "to_name": "audio", "type": "choices", "value": {"choices": ["No"]}}],
        "was_cancelled": false,
        "lead_time": 3.5
      },
      {
        "id": 103,
        "completed_by": 3,
        "result": [],
        "was_cancelled": true,
        "lead_time": 1.0
      },
      {
        "id": 104,
        "completed_by": 4,
        "result": [{"from_name": "match", "to_name": "audio", "type": "choices", "value": {"choices": ["Yes"]}}],
        "was_cancelled": false,
        "lead_time": 2.0
      }
    ],
    "predictions": []
  },
  {
    "id": 12,
    "data": {"audio": "/data/upload/3/0088_Birds chirp_1.wav", "text": "Birds chirp"},
    "annotations": []
  }
]
"""


def test_import_of_a_label_studio_export(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(LABEL_STUDIO_EXPORT, encoding="utf-8")
    notes = Notes(echo=False)
    kind, (label,) = read_label_studio(path, out_dir=tmp_path, notes=notes)
    assert kind == "labels"
    assert label.votes == [
        Vote(annotator="1", value=1.0, seconds=6.25, created_at="2024-06-01T09:00:00.000000Z"),
        Vote(annotator="bob@example.com", value=0.0, seconds=3.5),
        Vote(annotator="4", value=1.0, seconds=2.0),
    ]  # the cancelled annotation is not a vote
    assert (label.mean, label.label) == (pytest.approx(2 / 3), 1)
    assert (label.sample_id, label.prompt_id, label.index) == ("0088-0", "0088", 0)
    assert label.path == "/data/upload/3/0088_Birds chirp_0.wav"
    assert notes.messages == [
        f"{path}: 1 cancelled (skipped) annotations were left out",
        f"{path}: 1 of 2 tasks have no vote yet and were left out",
    ]


def test_an_unknown_choice_names_its_line(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(
        LABEL_STUDIO_EXPORT.replace('{"choices": ["No"]}', '{"choices": ["Maybe"]}'), encoding="utf-8"
    )
    with pytest.raises(InputError) as error:
        read_label_studio(path, out_dir=tmp_path)
    assert str(error.value) == (
        f"{path}, line 22, field 'annotations.result.value.choices': expected one of Yes or No, got ['Maybe']"
    )


def test_a_task_without_text_or_baton_name(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(
        '[\n  {"id": 1, "data": {"audio": "x/clip.wav"}, "annotations": []}\n]\n', encoding="utf-8"
    )
    with pytest.raises(InputError, match=r"line 2, field 'data\.text': required field is missing"):
        read_label_studio(path, out_dir=tmp_path)
    path.write_text('{"data": {}}', encoding="utf-8")
    with pytest.raises(InputError, match="a Label Studio export is a JSON array of tasks"):
        read_label_studio(path, out_dir=tmp_path)


def test_old_completions_key_and_a_bad_annotations_field(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(
        '[{"data": {"audio": "a/0001_A dog barks_0.wav"},\n'
        '  "completions": [{"completed_by": 5, "result": [{"from_name": "match", "type": "choices", "value": {"choices": ["No"]}}]}]}]\n',
        encoding="utf-8",
    )
    _, (label,) = read_label_studio(path, out_dir=tmp_path)
    assert label.votes == [Vote(annotator="5", value=0.0)] and label.text == "A dog barks"
    path.write_text('[{"data": {"text": "a"},\n "annotations": "Yes"}]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1, field 'annotations': must be a list of annotations"):
        read_label_studio(path, out_dir=tmp_path)
