// The labelling page: 1 yes, 2 no, s skip, space play/pause, u undo.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const initial = baton.state();
  const questions = initial.questions;
  const player = $("player");
  const canvas = $("waveform");
  let clip = initial.clip;
  let peaks = null;
  let shownAt = performance.now();
  let interacted = false;

  function show(next) {
    clip = next;
    $("clip-box").hidden = !clip;
    $("done").hidden = !!clip;
    peaks = null;
    if (!clip) {
      player.removeAttribute("src");
      player.load();
      return;
    }
    $("prompt-id").textContent = clip.prompt_id;
    $("clip-number").textContent = clip.number;
    $("clip-of").textContent = clip.of;
    $("prompt-text").textContent = clip.text;
    const events = $("events");
    events.replaceChildren(...clip.events.map((name) => {
      const li = document.createElement("li");
      li.textContent = name.replace(/_/g, " "); // noise_burst -> noise burst
      return li;
    }));
    // Numbered only when the order is part of the prompt ("then"); overlapping sounds are not.
    events.classList.toggle("ordered", clip.relation === "sequence" || (!clip.relation && clip.events.length > 1));
    $("question").textContent = questions[clip.task || ""] || questions[""];
    $("flag").value = "";
    $("comment").value = "";
    $("skip-details").open = false;
    if (player.getAttribute("src") !== clip.audio) {
      player.src = clip.audio;
      player.load();
    }
    if (interacted) player.play().catch(() => {});
    shownAt = performance.now();
    loadPeaks(clip);
  }

  // --- waveform ----------------------------------------------------------------------------------
  async function loadPeaks(forClip) {
    draw();
    const { status, data } = await baton.call("GET", forClip.peaks);
    if (status === 200 && clip && clip.clip === forClip.clip) {
      peaks = data;
      draw();
    }
  }

  function draw() {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, mid = h / 2;
    ctx.clearRect(0, 0, w, h);
    if (!peaks || !peaks.peaks.length) return;
    const duration = player.duration || peaks.duration || 1;
    const played = Math.min(1, (player.currentTime || 0) / duration);
    const n = peaks.peaks.length;
    // Scaled to the clip's loudest peak, so that a quiet clip still shows where its sounds are.
    let loudest = 0;
    for (const [lo, hi] of peaks.peaks) loudest = Math.max(loudest, -lo, hi);
    const gain = loudest > 1e-4 ? 0.95 / loudest : 1;
    for (let i = 0; i < n; i++) {
      const lo = peaks.peaks[i][0] * gain, hi = peaks.peaks[i][1] * gain;
      const x = (i / n) * w;
      ctx.fillStyle = i / n <= played ? "#2f5bd3" : "#9aa8c7";
      ctx.fillRect(x, mid - hi * mid, Math.max(1, w / n - 0.5), Math.max(1, (hi - lo) * mid));
    }
    ctx.fillStyle = "#c23b32";
    ctx.fillRect(played * w - 1, 0, 2, h);
  }

  function animate() {
    if (!player.paused) draw();
    requestAnimationFrame(animate);
  }

  canvas.addEventListener("click", (event) => {
    const rect = canvas.getBoundingClientRect();
    const duration = player.duration || (peaks && peaks.duration);
    if (!duration) return;
    player.currentTime = ((event.clientX - rect.left) / rect.width) * duration;
    draw();
  });
  player.addEventListener("seeked", draw);
  player.addEventListener("ended", draw);

  // --- answers -----------------------------------------------------------------------------------
  const flow = baton.answering({
    key: "clip", next: "/api/next", answer: "/api/labels", undo: "/api/undo", noun: "votes", show,
    buttons: ["yes", "no", "skip", "undo", "undo-done"],
  });
  const undo = flow.undo;

  function answer(kind) {
    if (flow.busy() || !clip) return;
    const body = { clip: clip.clip, seconds: Math.round((performance.now() - shownAt) / 10) / 100 };
    if (kind === "skip") {
      body.skip = true;
      if ($("flag").value) body.flag = $("flag").value;
      if ($("comment").value.trim()) body.comment = $("comment").value.trim();
    } else {
      body.value = kind === "yes" ? 1 : 0;
    }
    baton.flash(kind);
    flow.submit(body, kind === "skip" ? "skipped" : `saved: ${kind}`);
  }

  function togglePlay() {
    if (!clip) return;
    if (player.paused) player.play().catch((e) => baton.setStatus("cannot play: " + e.message, true));
    else player.pause();
  }

  $("yes").addEventListener("click", () => { interacted = true; answer("yes"); });
  $("no").addEventListener("click", () => { interacted = true; answer("no"); });
  $("skip").addEventListener("click", () => { interacted = true; answer("skip"); });
  $("undo").addEventListener("click", undo);
  $("undo-done").addEventListener("click", undo);

  baton.answerKeys(
    { "1": () => answer("yes"), "2": () => answer("no"), s: () => answer("skip"), u: undo, " ": togglePlay },
    () => { interacted = true; },
  );

  if (clip) { shownAt = performance.now(); loadPeaks(clip); }
  requestAnimationFrame(animate);
})();
