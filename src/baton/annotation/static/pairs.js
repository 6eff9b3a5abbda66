// The A/B page: two clips of one prompt played one after the other; 1 first better, 2 second better,
// 3 both wrong or equal, space play both again (or stop), u undo.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const initial = baton.state();
  const questions = initial.questions;
  const players = [$("player-1"), $("player-2")];
  let pair = initial.pair;
  let shownAt = performance.now();
  let interacted = false;
  let sequence = 0; // bumped to cancel a playing sequence

  function show(next) {
    pair = next;
    $("pair-box").hidden = !pair;
    $("done").hidden = !!pair;
    stop();
    if (!pair) {
      for (const player of players) { player.removeAttribute("src"); player.load(); }
      return;
    }
    $("prompt-id").textContent = pair.prompt_id;
    $("pair-number").textContent = pair.number;
    $("pair-of").textContent = pair.of;
    $("prompt-text").textContent = pair.text;
    const events = $("events");
    events.replaceChildren(...pair.events.map((name) => {
      const li = document.createElement("li");
      li.textContent = name.replace(/_/g, " ");
      return li;
    }));
    events.classList.toggle("ordered", pair.relation === "sequence" || (!pair.relation && pair.events.length > 1));
    $("question").textContent = questions[pair.task || ""] || questions[""];
    pair.clips.forEach((clip, i) => {
      if (players[i].getAttribute("src") !== clip.audio) {
        players[i].src = clip.audio;
        players[i].load();
      }
    });
    shownAt = performance.now();
    if (interacted) playBoth();
  }

  // --- playing: the first clip, then the second ---------------------------------------------------
  function mark(playing) {
    players.forEach((player, i) => $(`clip-${i + 1}`).classList.toggle("playing", i === playing));
  }

  function stop() {
    sequence += 1;
    for (const player of players) player.pause();
    mark(-1);
  }

  async function playBoth() {
    if (!pair) return;
    stop();
    const mine = sequence;
    for (let i = 0; i < players.length; i++) {
      if (mine !== sequence) return;
      const player = players[i];
      player.currentTime = 0;
      mark(i);
      try {
        await player.play();
      } catch (e) {
        baton.setStatus("cannot play: " + e.message, true);
        mark(-1);
        return;
      }
      await new Promise((resolve) => {
        const done = () => { player.removeEventListener("ended", done); player.removeEventListener("pause", done); resolve(); };
        player.addEventListener("ended", done);
        player.addEventListener("pause", done);
      });
    }
    if (mine === sequence) mark(-1);
  }

  function toggle() {
    if (players.some((player) => !player.paused)) stop();
    else playBoth();
  }

  // --- answers -----------------------------------------------------------------------------------
  const flow = baton.answering({
    key: "pair", next: "/api/pairs/next", answer: "/api/pairs", undo: "/api/pairs/undo", noun: "answers", show,
    buttons: ["first", "second", "neither", "undo", "undo-done"],
  });
  const undo = flow.undo;
  const SAVED = ["", "saved: the first is better", "saved: the second is better", "saved: both wrong or equal"];

  function answer(choice, button) {
    if (flow.busy() || !pair) return;
    baton.flash(button);
    flow.submit({ pair: pair.pair, choice, seconds: Math.round((performance.now() - shownAt) / 10) / 100 }, SAVED[choice]);
  }

  const choose = (choice, button) => () => { interacted = true; answer(choice, button); };
  $("first").addEventListener("click", choose(1, "first"));
  $("second").addEventListener("click", choose(2, "second"));
  $("neither").addEventListener("click", choose(3, "neither"));
  $("undo").addEventListener("click", undo);
  $("undo-done").addEventListener("click", undo);
  players.forEach((player) => player.addEventListener("ended", () => {
    if (players.every((p) => p.paused)) mark(-1);
  }));
  // A clip's own controls play it alone; the sequence stops.
  players.forEach((player) => player.addEventListener("play", () => {
    if (!$("pair-box").hidden && player !== players.find((p, i) => $(`clip-${i + 1}`).classList.contains("playing"))) {
      sequence += 1;
      players.forEach((other) => { if (other !== player) other.pause(); });
      mark(players.indexOf(player));
    }
  }));

  baton.answerKeys(
    { "1": () => answer(1, "first"), "2": () => answer(2, "second"), "3": () => answer(3, "neither"), u: undo, " ": toggle },
    () => { interacted = true; },
  );

})();
