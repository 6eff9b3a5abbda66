// Shared by the pages: JSON calls that retry when the network fails, so that no answer is lost.
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

  return { call, setStatus, state, sleep };
})();
