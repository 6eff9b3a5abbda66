// Shared by the pages: JSON calls that retry when the network fails, so that no answer is lost; the
// progress line, button flashes and answer keys of the labelling and A/B pages.
"use strict";
window.baton = (() => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Returns {status, data}. Network failures and 5xx answers are retried with backoff (the server
  // treats a repeated answer as the same answer, so a retry can never count twice).
  async function call(method, url, body, onWait) {
    let delay = 300;
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await fetch(url, {
          method,
          credentials: "same-origin",
          headers: body === undefined ? {} : { "Content-Type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        let data = null;
        try { data = await response.json(); } catch (e) { data = null; }
        if (response.status >= 500 && attempt < 8) throw new Error("server error " + response.status);
        return { status: response.status, data: data || {} };
      } catch (error) {
        if (attempt >= 8) return { status: 0, data: { error: "the server cannot be reached: " + error.message } };
        if (onWait) onWait(attempt);
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  function setStatus(text, bad) {
    const el = document.getElementById("status");
    if (!el) return;
    el.textContent = text || "";
    el.classList.toggle("bad", !!bad);
  }

  function state() {
    return JSON.parse(document.getElementById("state").textContent);
  }

  // The progress line of the labelling and A/B pages: my count, the campaign's bar and its words.
  function showProgress(progress, noun) {
    if (!progress) return;
    document.getElementById("my-count").textContent = progress.mine;
    const bar = document.getElementById("campaign-bar");
    bar.max = Math.max(progress.needed, 1);
    bar.value = progress.votes;
    document.getElementById("campaign-text").textContent = `campaign: ${progress.votes} of ${progress.needed} ${noun}`;
  }

  function flash(id) {
    const button = document.getElementById(id);
    button.classList.add("flash");
    setTimeout(() => button.classList.remove("flash"), 150);
  }

  // One-key answers: `actions` maps a key ("1", "u", " ") to a function; keys typed into a form field
  // are the field's (Esc leaves it). `onKey` runs before each action (the page notes the interaction).
  function answerKeys(actions, onKey) {
    document.addEventListener("keydown", (event) => {
      const tag = event.target.tagName;
      if (tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT") {
        if (event.key === "Escape") event.target.blur();
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
      const key = event.key.toLowerCase();
      if (!(key in actions)) return;
      event.preventDefault();
      if (onKey) onKey();
      actions[key]();
    });
  }

  // Answering on the labelling and A/B pages. `key` names the item ("clip" or "pair") in the API's
  // replies; `next`, `answer` and `undo` are its URLs; `buttons` are disabled while a call runs;
  // `show(item)` puts an item (or null: nothing left) on the page. An answer is posted (retried until
  // the server replies) and the next item shown; a 409 (another tab moved on) fetches the item the
  // server holds for this person; undo names the answer the page believes was last, so that a retried
  // undo takes back no more.
  function answering({ key, next, answer, undo, buttons, show, noun }) {
    let busy = false;
    let last = state().last;
    const progress = (value) => showProgress(value, noun);
    const setBusy = (value) => {
      busy = value;
      for (const id of buttons) document.getElementById(id).disabled = value;
    };

    async function refresh() {
      const { status, data } = await call("GET", next);
      if (status === 200) {
        progress(data.progress);
        show(data[key]);
        waitForRound(data[key], data.waiting);
      }
    }

    // Labels or pairs in rounds (active selection): nothing now may mean the next round is being chosen.
    function waitForRound(item, waiting) {
      if (item || !waiting) return;
      setStatus(`the next round of ${key}s is being chosen: this page asks again in a few seconds`);
      setTimeout(refresh, 5000);
    }

    async function submit(body, saved) {
      if (busy) return;
      setBusy(true);
      setStatus("saving…");
      const { status, data } = await call("POST", answer, body, () => setStatus("no connection, retrying…", true));
      setBusy(false);
      if (status === 200) {
        last = data.answered;
        setStatus(saved);
        progress(data.progress);
        show(data.next);
        waitForRound(data.next, data.waiting);
      } else if (status === 409) {
        setStatus(data.error, true);
        await refresh();
      } else {
        setStatus(data.error || `error ${status}`, true);
      }
    }

    async function takeBack() {
      if (busy) return;
      setBusy(true);
      const { status, data } = await call("POST", undo, last ? { [key]: last } : {});
      setBusy(false);
      if (status === 200) {
        last = data.previous;
        setStatus(`undone: answer this ${key} again`);
        progress(data.progress);
        show(data[key]);
      } else if (status === 409) {
        last = null; // answered elsewhere meanwhile (another tab): the next undo takes the latest
        setStatus(data.error + "; press u again to undo your latest answer", true);
      } else {
        setStatus(data.error || `error ${status}`, true);
      }
    }

    progress(state().progress);
    waitForRound(state()[key], state().waiting);
    return { submit, undo: takeBack, busy: () => busy };
  }

  return { call, setStatus, state, sleep, showProgress, flash, answerKeys, answering };
})();
