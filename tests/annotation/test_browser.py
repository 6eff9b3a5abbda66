"""A real browser (Playwright driving Debian's Chromium): log in, label with the keyboard, undo, progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.annotation.app import AppSettings, create_app
from baton.annotation.server import BackgroundServer

from .helpers import make_samples, sqlite_store


@pytest.fixture
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium),
            headless=True,
            # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def served(tmp_path):
    store = sqlite_store(tmp_path, labels_per_clip=1)
    store.load_samples(make_samples(tmp_path / "run", prompts=2, per_prompt=2, seconds=1.0))
    _, token = store.add_annotator("ann")
    with BackgroundServer(create_app(store, AppSettings(tasks=["labels"]))) as server:
        yield store, server.url, token


def watch_errors(page) -> list[str]:
    """Every page error, failed response and console error of ``page``, as it happens."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def answers(store):
    return [(r.clip.sample_id, r.label.value, r.label.skipped) for r in store.all_labels()]


def test_label_with_the_keyboard_undo_and_see_progress(browser, served, tmp_path):
    store, url, token = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = watch_errors(page)

    page.goto(f"{url}/login?token={token}")
    assert page.locator("h1").inner_text() == "Hello, ann"
    page.click("text=Label clips")
    page.wait_for_url(f"{url}/label")

    # The prompt, its events in order, the question, the clip's place among its prompt's clips.
    assert page.inner_text("#prompt-text") == "A bell rings and a dog barks (p000)"
    assert page.locator("#events li").all_inner_texts() == ["bell", "dog"]
    assert page.inner_text("#question") == "Can you hear every one of the named sounds?"
    assert (page.inner_text("#clip-number"), page.inner_text("#clip-of")) == ("1", "2")
    assert page.inner_text("#campaign-text") == "campaign: 0 of 4 votes"
    # The waveform is drawn from the clip's peaks (some pixels of the canvas are painted).
    page.wait_for_function(
        "() => { const c = document.getElementById('waveform');"
        " return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v) => v > 0); }"
    )
    page.screenshot(path=str(tmp_path / "label-page.png"), full_page=True)

    # space plays and pauses.
    page.keyboard.press(" ")
    page.wait_for_function("() => !document.getElementById('player').paused")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('player').paused")

    # 1 = yes: saved, progress moves, the prompt's next clip comes.
    page.keyboard.press("1")
    page.wait_for_function("() => document.getElementById('my-count').textContent === '1'")
    assert page.inner_text("#clip-number") == "2"
    assert page.inner_text("#campaign-text") == "campaign: 1 of 4 votes"
    assert page.eval_on_selector("#campaign-bar", "bar => bar.value") == 1
    # 2 = no, on the second clip of the prompt; then the next prompt (a temporal one) comes.
    page.keyboard.press("2")
    page.wait_for_function("() => document.getElementById('my-count').textContent === '2'")
    assert page.inner_text("#prompt-text") == "A siren, then a knock, then rain (p001)"
    assert page.inner_text("#question") == "Can you hear every one of the named sounds, in the order given?"
    assert answers(store) == [("p000-0", 1, False), ("p000-1", 0, False)]

    # u = undo: the last answer is taken back and its clip comes back.
    page.keyboard.press("u")
    page.wait_for_function("() => document.getElementById('my-count').textContent === '1'")
    assert page.inner_text("#prompt-text") == "A bell rings and a dog barks (p000)"
    assert page.inner_text("#clip-number") == "2"
    assert page.inner_text("#campaign-text") == "campaign: 1 of 4 votes"
    assert answers(store) == [("p000-0", 1, False)]

    # Answer it again (yes this time), then skip the next one with a flag chosen in the page.
    page.keyboard.press("1")
    page.wait_for_function("() => document.getElementById('my-count').textContent === '2'")
    page.click("#skip-details summary")
    page.select_option("#flag", "bad-audio")
    page.fill("#comment", "cut off")
    page.keyboard.press("Escape")  # leave the comment box; keys are answers again
    page.keyboard.press("s")
    page.wait_for_function("() => document.getElementById('my-count').textContent === '3'")
    assert answers(store) == [("p000-0", 1, False), ("p000-1", 1, False), ("p001-0", None, True)]
    assert store.all_labels()[-1].label.flag == "bad-audio"
    assert store.all_labels()[-1].label.comment == "cut off"
    assert page.inner_text("#campaign-text") == "campaign: 2 of 4 votes"  # a skip is not a vote

    # A reload continues where the annotator left off.
    page.reload()
    assert page.inner_text("#prompt-text") == "A siren, then a knock, then rain (p001)"
    assert page.inner_text("#clip-number") == "2"
    page.keyboard.press("2")
    page.wait_for_selector("#done:not([hidden])")
    assert page.inner_text("#done h1") == "Nothing left for you to label"
    assert errors == []


# --- phone width, event names, stale tabs, the dashboard's new annotators ------------------------------


def write_relation_samples(folder: Path, model: str) -> Path:
    """Two prompts with one clip each: overlapping sounds with snake_case names, then a sequence."""
    from baton.artifacts import SampleRecord, write_records

    from .helpers import write_wav

    prompts = [
        ("p-overlap", "A noise burst while a dog barks", ["noise_burst", "dog_bark"], "integrity", "overlap"),
        ("p-sequence", "A siren, then a door knock", ["siren", "door_knock"], "temporal", "sequence"),
    ]
    records = []
    for n, (prompt_id, text, events, task, relation) in enumerate(prompts):
        write_wav(folder / "audio" / f"{prompt_id}.wav", 1.0, freq=300 + 50 * n)
        records.append(
            SampleRecord(
                id=f"{prompt_id}-0", prompt_id=prompt_id, text=text, events=events, task=task,
                relation=relation, index=0, path=f"audio/{prompt_id}.wav", backend=model, sample_rate=8000,
                duration=1.0,
            )
        )  # fmt: skip
    write_records(folder / "samples.jsonl", records)
    return folder / "samples.jsonl"


@pytest.fixture
def campaign(tmp_path):
    """Labels and a listening test (two models), an admin, an annotator with a flagged skip."""
    from baton.annotation.store import Answer

    store = sqlite_store(tmp_path, labels_per_clip=1, raters_per_item=1)
    for model in ("alpha", "beta"):
        store.load_samples(write_relation_samples(tmp_path / model, model), model=model)
    _, admin = store.add_annotator("administrator-with-a-long-name", admin=True)
    person, _ = store.add_annotator("annotator-with-a-long-name-too")
    clip = store.next_clip(person)
    store.answer(
        person, clip.uid, Answer(value=None, skipped=True, flag="other", comment="cut " * 30), then_next=False
    )
    with BackgroundServer(create_app(store, AppSettings(tasks=["labels", "ratings"]))) as server:
        yield store, server.url, admin


def test_no_page_scrolls_sideways_at_phone_width(browser, campaign, tmp_path):
    store, url, admin = campaign
    page = browser.new_page(viewport={"width": 375, "height": 740})
    page.goto(f"{url}/login?token={admin}")
    for name in ("label", "dashboard", "listen", ""):
        page.goto(f"{url}/{name}")
        page.screenshot(path=str(tmp_path / f"phone-{name or 'home'}.png"), full_page=True)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], (name, widths)

    # The label page shows the prompt, the player, every answer button and the progress in one view.
    page.goto(f"{url}/label")
    for selector in ("#prompt-text", "#events", "#waveform", "#player", "#yes", "#no", "#skip", "#undo",
                     "#campaign-bar", "#campaign-text", "#status"):  # fmt: skip
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, (selector, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= 740, (selector, box)
    assert page.locator("#campaign-bar").bounding_box()["width"] > 200  # not shrunk to nothing
    assert page.evaluate("parseFloat(getComputedStyle(document.getElementById('prompt-text')).fontSize)") < 24


def test_event_names_overlaps_stale_tabs_and_new_annotators(browser, campaign):
    from baton.annotation.store import Answer

    store, url, admin = campaign
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/login?token={admin}")

    # Overlapping sounds: readable names, not numbered (their order is not part of the prompt).
    page.goto(f"{url}/label")
    numbering = (
        "[...document.querySelectorAll('#events li')].map((li) => getComputedStyle(li, '::before').content)"
    )
    assert page.inner_text("#prompt-text") == "A noise burst while a dog barks"
    assert page.locator("#events li").all_inner_texts() == ["noise burst", "dog bark"]
    assert page.evaluate(numbering) == ["none", "none"]

    # Another tab answers this clip; this page's answer is then refused (409) in words, without the
    # internal clip id, and the page moves on to the next clip, a sequence: numbered, readable.
    person = next(a for a in store.annotators() if a.is_admin)
    uid = store.next_clip(person).uid
    store.answer(person, uid, Answer(value=1), then_next=False)
    page.keyboard.press("2")
    page.wait_for_function("() => document.getElementById('status').classList.contains('bad')")
    status = page.inner_text("#status")
    assert "another tab" in status and uid not in status
    page.wait_for_function("() => document.getElementById('prompt-text').textContent.includes('siren')")
    assert page.locator("#events li").all_inner_texts() == ["siren", "door knock"]
    assert page.evaluate(numbering) == ['counter(ev) ". "'] * 2

    # A new annotator made on the dashboard appears in its table at once.
    page.goto(f"{url}/dashboard")
    rows = "#annotators tbody tr"
    before = page.locator(rows).count()
    page.fill("#new-name", "carol")
    page.click("#add-annotator button")
    page.wait_for_function("() => document.getElementById('new-link').textContent.startsWith('carol:')")
    assert page.locator(rows).count() == before + 1
    assert page.locator(rows).last.locator("td").all_inner_texts()[:3] == ["carol", "0", "0"]
    assert [a.name for a in store.annotators()][-1] == "carol"


# --- the A/B page ------------------------------------------------------------------------------------


@pytest.fixture
def comparing(tmp_path):
    """Pairs only: prompt p000's 3 clips make 3 pairs, p001's 2 clips one; one answer per pair."""
    from baton.annotation.pairs import PairQueue

    store = sqlite_store(tmp_path, labels_per_clip=1)
    store.load_samples(make_samples(tmp_path / "run", prompts=1, per_prompt=3, seconds=0.6))
    store.load_samples(
        make_samples(tmp_path / "more", prompts=2, per_prompt=2, seconds=0.6, name="m.jsonl"), model="b"
    )
    PairQueue(store).form()
    _, token = store.add_annotator("ann")
    with BackgroundServer(create_app(store, AppSettings(tasks=["pairs"]))) as server:
        yield store, server.url, token


def preferences(store):
    """Each answer as (the sample id judged better, or 'tie')."""
    from baton.annotation.pairs import PairQueue

    out = []
    for row in PairQueue(store).all_preferences():
        choice = row.preference.choice
        out.append("tie" if choice == "tie" else (row.first if choice == "first" else row.second).sample_id)
    return out


def played(page):
    return page.evaluate(
        "[...document.querySelectorAll('audio')].map((a) => decodeURIComponent(a.getAttribute('src') || ''))"
    )


def test_compare_two_clips_with_the_keyboard(browser, comparing, tmp_path):
    store, url, token = comparing
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = watch_errors(page)
    uids = {c.uid: c.sample_id for c in store.all_clips()}

    def heard():
        return [uids[src.rsplit("/", 1)[1]] for src in played(page)]

    page.goto(f"{url}/login?token={token}")
    page.click("text=Compare clips")
    page.wait_for_url(f"{url}/pairs")
    assert page.inner_text("#prompt-text") == "A bell rings and a dog barks (p000)"
    assert page.inner_text("#question") == "Which clip lets you hear every one of the named sounds?"
    assert (page.inner_text("#pair-number"), page.inner_text("#pair-of")) == ("1", "3")
    assert page.inner_text("#campaign-text") == "campaign: 0 of 5 answers"
    page.screenshot(path=str(tmp_path / "pairs-page.png"), full_page=True)

    # space plays the first clip, then the second by itself; space again stops them.
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('clip-1').classList.contains('playing')")
    page.wait_for_function("() => !document.getElementById('player-2').paused", timeout=10000)
    assert page.evaluate("document.getElementById('player-1').ended")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('player-2').paused")

    # 1: the clip played first is better; the prompt's next pair comes, and starts playing.
    first_pair = heard()
    page.keyboard.press("1")
    page.wait_for_function("() => document.getElementById('my-count').textContent === '1'")
    assert page.inner_text("#pair-number") == "2"
    assert page.inner_text("#campaign-text") == "campaign: 1 of 5 answers"
    assert preferences(store) == [first_pair[0]]
    second_pair = heard()
    page.keyboard.press("2")
    page.wait_for_function("() => document.getElementById('my-count').textContent === '2'")
    assert preferences(store) == [first_pair[0], second_pair[1]]

    # u: the answer is taken back; the pair comes back in the same order.
    page.keyboard.press("u")
    page.wait_for_function("() => document.getElementById('my-count').textContent === '1'")
    assert heard() == second_pair and page.inner_text("#pair-number") == "2"
    assert preferences(store) == [first_pair[0]]
    page.keyboard.press("3")  # both wrong or equal
    page.wait_for_function("() => document.getElementById('my-count').textContent === '2'")
    assert preferences(store) == [first_pair[0], "tie"]

    # A reload continues where the rater left off; then the other model's prompts, to the end.
    page.reload()
    assert page.inner_text("#pair-number") == "3"
    for count in (3, 4, 5):
        page.keyboard.press("1")
        page.wait_for_function(f"() => document.getElementById('my-count').textContent === '{count}'")
    page.wait_for_selector("#done:not([hidden])")
    assert page.inner_text("#done h1") == "Nothing left for you to compare"
    assert len(preferences(store)) == 5
    assert errors == []


def test_the_compare_page_fits_a_phone(browser, comparing, tmp_path):
    _, url, token = comparing
    page = browser.new_page(viewport={"width": 375, "height": 740})
    page.goto(f"{url}/login?token={token}")
    for name in ("pairs", "", "guidelines"):
        page.goto(f"{url}/{name}")
        page.screenshot(path=str(tmp_path / f"phone-{name or 'home'}.png"), full_page=True)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], (name, widths)
    page.goto(f"{url}/pairs")
    for selector in ("#prompt-text", "#events", "#player-1", "#player-2", "#first", "#second", "#neither",
                     "#undo", "#campaign-bar", "#status"):  # fmt: skip
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, (selector, box)
        assert box["y"] >= 0 and box["y"] + box["height"] <= 740, (selector, box)
    # Tapping a button answers, as a key does.
    page.click("#neither")
    page.wait_for_function("() => document.getElementById('my-count').textContent === '1'")


def test_the_page_waits_for_the_next_round_and_then_shows_its_clips(browser, tmp_path):
    """Labelling in rounds: with nothing left for them in this round the page says the next round is
    being chosen and asks again; when someone else completes the round, its clips appear."""
    from baton.annotation.rounds import Rounds, RoundSettings
    from baton.annotation.store import Answer

    store = sqlite_store(tmp_path, labels_per_clip=2)
    store.load_samples(make_samples(tmp_path / "run", prompts=2, per_prompt=2, seconds=0.2))
    rounds = Rounds(store, RoundSettings(round_size=2), chooser=lambda known, ids, size, n: ids[:size])
    rounds.advance()
    ann, token = store.add_annotator("ann")
    bob = store.add_annotator("bob")[0]
    for _ in range(2):  # ann has answered the first round's two clips; bob has not
        store.answer(ann, store.next_clip(ann).uid, Answer(value=1), then_next=False)
    with BackgroundServer(
        create_app(store, AppSettings(tasks=["labels"], rounds={"labels": rounds}))
    ) as server:
        page = browser.new_page()
        errors = watch_errors(page)
        page.goto(f"{server.url}/login?token={token}")
        page.goto(f"{server.url}/label")
        page.wait_for_function("() => document.getElementById('status').textContent.includes('next round')")
        assert page.locator("#clip-box").is_hidden()
        for _ in range(2):
            store.answer(bob, store.next_clip(bob).uid, Answer(value=0), then_next=False)
        # The page's next ask finds the round complete: the next round is chosen and shown.
        page.wait_for_function("() => !document.getElementById('clip-box').hidden", timeout=15_000)
        assert page.inner_text("#prompt-text").endswith("(p001)")
        assert errors == []


def test_pairs_in_rounds_the_page_waits_for_the_next_round_and_the_dashboard_fits_a_phone(browser, tmp_path):
    """A/B pairs in rounds: with nothing left for them the page says the next round of pairs is being
    chosen and shows its pair once someone else completes the round; the dashboard's rounds card, for
    labels and pairs, does not scroll sideways at phone width."""
    from baton.annotation.pairs import PairQueue
    from baton.annotation.rounds import Rounds, RoundSettings

    store = sqlite_store(tmp_path, labels_per_clip=2)
    store.load_samples(make_samples(tmp_path / "run", prompts=2, per_prompt=2, seconds=0.2))
    queue = PairQueue(store)
    assert queue.form() == 2

    def first(known, ids, size, n):
        return ids[:size]

    rounds = {
        "labels": Rounds(store, RoundSettings(round_size=2), "labels", first),
        "pairs": Rounds(store, RoundSettings(round_size=1, budget=2), "pairs", first),
    }
    for task_rounds in rounds.values():
        task_rounds.advance()
    ann, token = store.add_annotator("administrator-with-a-long-name", admin=True)
    bob = store.add_annotator("bob")[0]
    queue.answer(ann, queue.next(ann).uid, 3, then_next=False)  # ann has answered round 1's pair; bob not
    with BackgroundServer(create_app(store, AppSettings(tasks=["labels", "pairs"], rounds=rounds))) as server:
        page = browser.new_page(viewport={"width": 375, "height": 740})
        errors = watch_errors(page)
        page.goto(f"{server.url}/login?token={token}")
        page.goto(f"{server.url}/pairs")
        page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('next round of pairs')"
        )
        assert page.locator("#pair-box").is_hidden()
        queue.answer(bob, queue.next(bob).uid, 3, then_next=False)
        page.wait_for_function("() => !document.getElementById('pair-box').hidden", timeout=15_000)
        assert page.inner_text("#prompt-id") == "p001"

        page.goto(f"{server.url}/dashboard")
        page.screenshot(path=str(tmp_path / "phone-dashboard-rounds.png"), full_page=True)
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths
        for selector in ('#rounds p[data-task="labels"] progress', '#rounds p[data-task="pairs"] progress'):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, (selector, box)
        assert "round 2" in page.inner_text('#rounds p[data-task="pairs"]')
        assert errors == []
