// The dashboard: make login links for new annotators (a new one gets a row in the table at once).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  // A row like the server's for someone with no answers yet (answers 0; times, agreement and gold: –).
  function addRow(name, admin) {
    const body = document.querySelector("#annotators tbody");
    if ([...body.rows].some((row) => row.dataset.name === name)) return;
    const row = document.createElement("tr");
    row.dataset.name = name;
    const first = cell(name);
    if (admin) {
      const note = document.createElement("small");
      note.textContent = "(admin)";
      first.append(" ", note);
    }
    row.append(first, cell("0"), cell("0"), cell("0"), cell("0"), cell("–", "na"), cell("–", "na"),
      cell("–", "na"), cell("0"), cell("–", "when"), cell("0"), cell("0"), cell("–", "gold"));
    body.appendChild(row);
  }

  $("add-annotator").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: $("new-name").value.trim(), admin: $("new-admin").checked, reset: $("new-reset").checked };
    const { status, data } = await baton.call("POST", "/api/admin/annotators", body);
    $("new-link").textContent = status === 200 ? `${data.name}: ${data.link}` : (data.error || `error ${status}`);
    if (status === 200) {
      addRow(data.name, data.admin);
      $("new-name").value = "";
    }
  });
})();
