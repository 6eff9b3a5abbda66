// The listening test: rate every clip of an item on both questions, blind and shuffled.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const initial = baton.state();
  let item = initial.item;
  let shownAt = performance.now();

  function showProgress(progress) {
    if (!progress) return;
    $("my-count").textContent = progress.mine;
    $("campaign-bar").max = Math.max(progress.needed, 1);
    $("campaign-bar").value = progress.ratings;
    $("campaign-text").textContent = `test: ${progress.ratings} of ${progress.needed} ratings`;
  }

  function show(next) {
    item = next;
    $("item-box").hidden = !item;
    $("done").hidden = !!item;
    const box = $("clips");
    box.replaceChildren();
    if (!item) return;
    $("item-text").textContent = item.text;
    const template = $("clip-template");
    for (const clip of item.clips) {
      const node = template.content.firstElementChild.cloneNode(true);
      node.dataset.clip = clip.clip;
      node.querySelector(".clip-name").textContent = clip.name;
      node.querySelector("audio").src = clip.audio;
      for (const scale of node.querySelectorAll(".scale")) {
        for (const input of scale.querySelectorAll("input")) input.name = `${clip.clip}-${scale.dataset.question}`;
      }
      box.appendChild(node);
    }
    shownAt = performance.now();
  }

  $("item-box").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!item) return;
    const scores = {};
    for (const fieldset of $("clips").querySelectorAll("fieldset.clip")) {
      const byQuestion = {};
      for (const scale of fieldset.querySelectorAll(".scale")) {
        const chosen = scale.querySelector("input:checked");
        if (!chosen) { baton.setStatus("rate every clip on both questions", true); return; }
        byQuestion[scale.dataset.question] = Number(chosen.value);
      }
      scores[fieldset.dataset.clip] = byQuestion;
    }
    $("submit-ratings").disabled = true;
    const seconds = Math.round((performance.now() - shownAt) / 10) / 100;
    const { status, data } = await baton.call("POST", "/api/ratings", { item: item.item, scores, seconds });
    $("submit-ratings").disabled = false;
    if (status === 200) {
      baton.setStatus("saved");
      showProgress(data.progress);
      show(data.next);
    } else {
      baton.setStatus(data.error || `error ${status}`, true);
      if (status === 409) {
        const again = await baton.call("GET", "/api/ratings/next");
        if (again.status === 200) { showProgress(again.data.progress); show(again.data.item); }
      }
    }
  });

  showProgress(initial.progress);
  show(item);
})();
