"""The commands' care with databases and ports: reading commands never make a database, ``serve``
checks its inputs and its port before it makes or prints anything, and links name the real server."""

from __future__ import annotations

import re
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from baton.cli import main

from .helpers import make_samples, sqlite_store


def run_cli(*args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exit_.value.code, " ".join((captured.out + captured.err).split())


def link_of(out: str) -> str:
    return re.search(r"https?://\S+/login\?token=\S+", out).group(0)


@pytest.mark.parametrize(
    "command",
    [
        ["export", "--out", "{tmp}/labels.jsonl"],
        ["mos"],
        ["add-annotator", "alice"],
    ],
)
def test_a_command_that_needs_a_database_does_not_make_one(command, tmp_path, capsys):
    missing = tmp_path / "missing.db"
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    code, out = run_cli("annotate", *args, "--db", f"sqlite:///{missing}", capsys=capsys)
    assert code == 1
    assert f"{missing}, field 'db': no such database" in out
    assert list(tmp_path.iterdir()) == []  # no database, no -wal, no export


def test_a_database_without_batons_tables_is_refused(postgres, capsys):
    url = postgres.create_schema()
    code, out = run_cli("annotate", "export", "--db", url, capsys=capsys)
    assert code == 1 and "holds no annotations" in out


def test_serve_checks_its_samples_before_making_the_database(tmp_path, capsys):
    db = tmp_path / "labels.db"
    code, out = run_cli(
        "annotate", "serve", "--samples", tmp_path / "nofile.jsonl", "--db", f"sqlite:///{db}", "--port", "0",
        capsys=capsys,
    )  # fmt: skip
    assert code == 1 and "nofile.jsonl: no such samples file" in out
    code, out = run_cli("annotate", "serve", "--db", f"sqlite:///{db}", "--port", "0", capsys=capsys)
    assert code == 1 and "holds no clips" in out
    assert list(tmp_path.iterdir()) == []


def test_serve_on_a_busy_port_says_so_before_printing_a_link(tmp_path, capsys):
    samples = make_samples(tmp_path / "run", prompts=1, per_prompt=2)
    db = tmp_path / "labels.db"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = run_cli(
            "annotate", "serve", "--samples", samples, "--db", f"sqlite:///{db}", "--port", port, capsys=capsys
        )  # fmt: skip
    assert code == 2
    assert f"field 'port': port {port} on 127.0.0.1 is already in use" in out
    assert "login" not in out and "serving on" not in out
    assert not db.exists()


@pytest.fixture
def serving(monkeypatch):
    """``serve``'s uvicorn runs until it has answered one request, then stops; ``seen`` is what it did."""
    from baton.console import console

    monkeypatch.setattr(console, "soft_wrap", True)  # a link on one line, however long
    seen: dict = {}
    run = uvicorn.Server.run

    def run_once(server, sockets=None):
        port = sockets[0].getsockname()[1]
        seen["port"] = port

        def knock():
            deadline = time.monotonic() + 30
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.01)
            try:
                seen["status"] = httpx.get(f"http://127.0.0.1:{port}/login-needed").status_code
            finally:
                server.should_exit = True

        thread = threading.Thread(target=knock, daemon=True)
        thread.start()
        run(server, sockets=sockets)
        thread.join(timeout=30)

    monkeypatch.setattr(uvicorn.Server, "run", run_once)
    return seen


def test_serve_serves_on_the_port_it_checked_and_add_annotator_links_to_it(tmp_path, capsys, serving):
    samples = make_samples(tmp_path / "run", prompts=1, per_prompt=2)
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    code, out = run_cli("annotate", "serve", "--samples", samples, "--db", db, "--port", "0", capsys=capsys)
    assert code in (0, None) and serving["status"] == 401  # the app answered: its "log in first" page
    port = serving["port"]
    admin = link_of(out)
    assert admin.startswith(f"http://127.0.0.1:{port}/login?token=")
    assert f"serving on http://127.0.0.1:{port}" in out
    store = sqlite_store(tmp_path)
    assert store.authenticate(admin.rpartition("=")[2]).is_admin
    store.db.dispose()

    # add-annotator's link names the server serve ran, not a default port; --url still decides.
    code, out = run_cli("annotate", "add-annotator", "alice", "--db", db, capsys=capsys)
    assert code in (0, None) and out.startswith(f"http://127.0.0.1:{port}/login?token=")
    code, out = run_cli(
        "annotate", "add-annotator", "bob", "--db", db, "--url", "https://lab.example/", capsys=capsys
    )
    assert code in (0, None) and out.startswith("https://lab.example/login?token=")


def test_add_annotator_links_to_the_public_url_serve_was_given(tmp_path, capsys, serving):
    samples = make_samples(tmp_path / "run", prompts=1, per_prompt=2)
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    code, out = run_cli(
        "annotate", "serve", "--samples", samples, "--db", db, "--port", "0", "--public-url",
        "https://labels.example.org/", capsys=capsys,
    )  # fmt: skip
    assert code in (0, None) and link_of(out).startswith("https://labels.example.org/login?token=")
    code, out = run_cli("annotate", "add-annotator", "alice", "--db", db, capsys=capsys)
    assert out.startswith("https://labels.example.org/login?token=")


def test_add_annotator_without_a_serve_links_to_serves_default(tmp_path, capsys):
    sqlite_store(tmp_path).db.dispose()  # a database made without serve (as import or a test does)
    code, out = run_cli("annotate", "add-annotator", "alice", "--db", f"sqlite:///{tmp_path / 'labels.db'}",
                        capsys=capsys)  # fmt: skip
    assert code in (0, None) and out.startswith("http://127.0.0.1:8000/login?token=")


def test_a_restart_keeps_the_campaigns_settings_and_refuses_other_ones(tmp_path, capsys, serving):
    """--k, --raters-per-item and --collect are stored by the first serve; a restart without them keeps
    them, a restart with other values is refused (naming the database, the setting and both values)
    unless --change-settings is given."""
    from baton.annotation.run import open_store

    samples = make_samples(tmp_path / "run", prompts=1, per_prompt=2)
    path = tmp_path / "labels.db"
    db = f"sqlite:///{path}"

    def serve(*flags):
        return run_cli("annotate", "serve", "--samples", samples, "--db", db, "--port", "0", *flags,
                       capsys=capsys)  # fmt: skip

    def stored():
        store = open_store(db, create=False)
        try:
            return store.campaign_settings()
        finally:
            store.db.dispose()

    code, out = serve("--k", "1", "--raters-per-item", "2", "--collect", "labels", "--collect", "ratings")
    assert code in (0, None), out
    assert "campaign: 1 labels per clip, 2 raters per item, tasks: labels, ratings" in out
    assert stored() == {
        "labels_per_clip": "1", "raters_per_item": "2", "tasks": "labels,ratings", "pairs_per_prompt": "0",
        "pairs_seed": "0", "select": "random", "round_size": "50", "random_share": "0.25", "budget": "0",
    }  # fmt: skip

    code, out = serve()  # no flags: the stored campaign, not the defaults (3, 5, labels)
    assert code in (0, None), out
    assert "campaign: 1 labels per clip, 2 raters per item, tasks: labels, ratings" in out
    code, out = serve("--k", "1", "--collect", "ratings", "--collect", "labels")  # the same values: fine
    assert code in (0, None), out
    # The old spelling of --collect still works, with a warning.
    code, out = serve("--task", "ratings", "--task", "labels")
    assert code in (0, None), out
    assert "--task is deprecated here and will be removed: use --collect" in " ".join(out.split())

    for flags, field, before, after in [
        (["--k", "3"], "labels_per_clip", "--k 1", "--k 3"),
        (["--raters-per-item", "5"], "raters_per_item", "--raters-per-item 2", "--raters-per-item 5"),
        (["--collect", "labels"], "tasks", "--collect labels,ratings", "--collect labels"),
    ]:
        code, out = serve(*flags)
        assert code == 1, out  # the database holds another campaign: bad input
        assert f"{path}, field '{field}'" in out
        assert before in out and after in out and "--change-settings" in out
        assert "serving on" not in out
    assert stored() == {
        "labels_per_clip": "1", "raters_per_item": "2", "tasks": "labels,ratings", "pairs_per_prompt": "0",
        "pairs_seed": "0", "select": "random", "round_size": "50", "random_share": "0.25", "budget": "0",
    }  # fmt: skip

    code, out = serve("--k", "3", "--change-settings")
    assert code in (0, None), out
    assert "campaign: 3 labels per clip, 2 raters per item" in out
    assert stored()["labels_per_clip"] == "3"
    code, out = serve()
    assert code in (0, None) and "campaign: 3 labels per clip" in out


def test_a_pairs_campaign_from_serve_to_audio_alpaca(tmp_path, capsys, serving):
    """serve --collect pairs forms the pairs (and keeps --pairs-per-prompt), gold clips come from
    `annotate gold`, export --pairs writes baton pairs, and `data export` Audio-Alpaca triplets."""
    from baton.annotation.pairs import PairQueue
    from baton.annotation.run import open_store
    from baton.artifacts import PairRecord, read_records

    samples = make_samples(tmp_path / "run", prompts=2, per_prompt=4)
    db = f"sqlite:///{tmp_path / 'labels.db'}"
    code, out = run_cli("annotate", "gold", "--out", tmp_path / "gold", "--prompts", "2", capsys=capsys)
    assert code in (0, None) and "4 gold clips (2 prompts, a right and a wrong clip each)" in out
    serve = ["annotate", "serve", "--samples", samples, "--db", db, "--port", "0", "--collect", "pairs"]
    code, out = run_cli(*serve, "--pairs-per-prompt", "3", "--gold", tmp_path / "gold" / "samples.jsonl",
                        "--k", "1", capsys=capsys)  # fmt: skip
    assert code in (0, None), out
    assert "pairs: 6 (8 new), 1 answers each" in out  # 3 of each prompt's 6, and the 2 gold pairs
    code, out = run_cli(*serve, "--pairs-per-prompt", "2", capsys=capsys)
    assert code == 1 and "field 'pairs_per_prompt'" in out and "--pairs-per-prompt 3" in out

    store = open_store(db, create=False)
    queue = PairQueue(store)
    ann, _ = store.add_annotator("ann")
    view = queue.next(ann)
    while view is not None:
        view = queue.answer(ann, view.uid, 1).next
    store.db.dispose()
    pairs = tmp_path / "p.jsonl"
    code, out = run_cli("annotate", "export", "--db", db, "--pairs", "--out", pairs, capsys=capsys)
    assert code in (0, None) and "6 pairs, 6 votes" in out
    records = read_records(pairs, PairRecord)
    assert len(records) == 6 and all(r.preference == 1.0 for r in records)
    code, out = run_cli("data", "export", pairs, "--format", "audio-alpaca", "--out", tmp_path / "alpaca.jsonl",
                        capsys=capsys)  # fmt: skip
    assert code in (0, None) and "6 pairs" in out
    assert len((tmp_path / "alpaca.jsonl").read_text().splitlines()) == 6
    code, out = run_cli("annotate", "export", "--db", db, "--pairs", "--format", "tango",
                        "--out", tmp_path / "x.jsonl", capsys=capsys)  # fmt: skip
    assert code == 2 and "pairs are exported as pairs.jsonl" in out
