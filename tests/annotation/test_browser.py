"""A real browser (Playwright driving Debian's Chromium): log in, label with the keyboard, undo, progress."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from baton.annotation.app import AppSettings, create_app
from baton.annotation.server import BackgroundServer

from .helpers import make_samples, sqlite_store

CHROMIUM = Path(os.environ.get("BATON_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: `make browser` installs it (root + apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
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


def answers(store):
    return [(r.clip.sample_id, r.label.value, r.label.skipped) for r in store.all_labels()]


def test_label_with_the_keyboard_undo_and_see_progress(browser, served, tmp_path):
    store, url, token = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

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
