// The dashboard: make login links for new annotators.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  $("add-annotator").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: $("new-name").value.trim(), admin: $("new-admin").checked, reset: $("new-reset").checked };
    const { status, data } = await baton.call("POST", "/api/admin/annotators", body);
    $("new-link").textContent = status === 200 ? `${data.name}: ${data.link}` : (data.error || `error ${status}`);
  });
})();
