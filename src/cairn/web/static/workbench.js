// Cairn workbench: our own small script (no third-party code). Keyboard categorising,
// hold-to-reveal, apply-to-family, login/logout, a break reminder. Every picture arrives
// blurred from the server; a reveal swaps in the clear one and swaps it back.
(function () {
  "use strict";
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const say = (text) => { const s = document.getElementById("status"); if (s) s.textContent = text; };

  async function post(url, body) {
    const r = await fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body) });
    if (!r.ok) { say("refused: " + r.status); throw new Error(String(r.status)); }
    return r.json();
  }

  // -- login and logout --------------------------------------------------------------------
  const login = document.getElementById("login");
  if (login) {
    login.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const r = await fetch("/login", { method: "POST", credentials: "same-origin",
        body: new URLSearchParams(new FormData(login)) });
      if (r.ok) { window.location.assign(login.dataset.next || "/ui/"); return; }
      document.getElementById("login-error").textContent =
        r.status === 429 ? "Too many failed logins: wait and try again." : "Wrong user name or password.";
    });
  }
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await fetch("/logout", { method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf() } });
      window.location.assign("/ui/login");
    });
  }

  // -- hold to reveal ----------------------------------------------------------------------
  // The clear picture is the answer to a POST carrying the CSRF header (each one a custody
  // entry); it is shown from a blob: URL, dropped again when the item re-blurs.
  const root = document.querySelector("[data-reveal-seconds]");  // queue, panel, family, compare
  const revealMs = root ? 1000 * Number(root.dataset.revealSeconds || 5) : 5000;
  let revealed = null, timer = null, asked = 0;
  async function reveal(thumb) {
    if (!thumb || revealed === thumb) return;
    hide();
    revealed = thumb;
    const mine = ++asked;
    const r = await fetch(thumb.dataset.reveal, { method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf() } });
    if (!r.ok) { say("cannot reveal: " + r.status); if (mine === asked) hide(); return; }
    const url = URL.createObjectURL(await r.blob());
    if (mine !== asked || revealed !== thumb) { URL.revokeObjectURL(url); return; }  // released meanwhile
    const img = thumb.querySelector("img");
    img.src = url; img.alt = img.alt.replace("blurred", "revealed");
    thumb.classList.add("revealed");
    // re-blurs on its own, even if the key stays down; counted from when the clear picture
    // shows, so a slow answer (a loaded server) neither shortens its time nor loses it
    timer = setTimeout(hide, revealMs);
    say("item " + thumb.dataset.item + " revealed (logged)");
  }
  function hide() {
    asked++;
    if (timer) { clearTimeout(timer); timer = null; }
    if (!revealed) return;
    const img = revealed.querySelector("img");
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = img.dataset.blur; img.alt = img.alt.replace("revealed", "blurred");
    revealed.classList.remove("revealed"); revealed = null;
  }
  document.querySelectorAll("button.reveal").forEach((b) => {
    const thumb = b.closest(".thumb");
    b.addEventListener("pointerdown", (ev) => { ev.preventDefault(); reveal(thumb); });
    ["pointerup", "pointerleave", "pointercancel", "blur"].forEach((e) => b.addEventListener(e, hide));
  });
  window.addEventListener("blur", hide);

  // -- exposure: the session's blur level; off only with the confirmation box ticked --------
  const exposure = document.getElementById("exposure");
  if (exposure) {
    exposure.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const chosen = exposure.querySelector('input[name="blur"]:checked');
      const r = await fetch("/ui/exposure", { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
        body: JSON.stringify({ blur: Number(chosen.value),
                               confirm: document.getElementById("confirm-off").checked }) });
      const msg = document.getElementById("exposure-error");
      if (r.ok) { const j = await r.json(); document.getElementById("blur-now").textContent = j.to; msg.textContent = ""; say("blur: " + j.to); return; }
      msg.textContent = r.status === 409 ? "Turning the blur off needs the confirmation box ticked." : "Refused: " + r.status;
    });
  }

  // -- the queue: selection, categories, undo ----------------------------------------------
  const queue = document.getElementById("queue");
  const cells = queue ? Array.from(queue.querySelectorAll("li.cell")) : [];
  let at = 0;
  function select(i) {
    if (!cells.length) return;
    at = Math.max(0, Math.min(cells.length - 1, i));
    cells.forEach((c, k) => c.setAttribute("aria-selected", k === at ? "true" : "false"));
    cells[at].focus({ preventScroll: false });
    say("item " + cells[at].dataset.item + " selected");
  }
  if (cells.length) select(0);
  const keys = {};  // digit -> category id of the chosen scheme, read from the key list
  const scheme = root ? root.dataset.scheme : null;
  function markDecision(item, text) {
    document.querySelectorAll('.decision[data-item="' + item + '"]').forEach((d) => { d.textContent = text; });
  }
  async function categorise(category) {
    const item = Number(cells[at].dataset.item);
    const res = await post("/ui/cases/" + encodeURIComponent(queue.dataset.case) + "/review",
      { scheme: scheme, category: category, items: [item] });
    const r = res.reviews[0];
    markDecision(item, r.scheme + " " + r.category);
    say("item " + item + ": " + r.category);
    select(at + 1);
  }
  async function undo() {
    const item = Number(cells[at].dataset.item);
    const res = await post("/ui/cases/" + encodeURIComponent(queue.dataset.case) + "/review", { undo: item });
    const r = res.reviews[0];
    markDecision(item, r.category ? r.scheme + " " + r.category : "none");
    say("item " + item + ": undone");
  }
  async function applyFamily(fam, category) {
    const res = await post("/ui/cases/" + encodeURIComponent(fam.dataset.case) + "/review",
      { scheme: fam.dataset.scheme, category: category, family: Number(fam.dataset.family) });
    res.reviews.forEach((r) => markDecision(r.item, r.scheme + " " + r.category));
    say(res.reviews.length + " items: " + category);
  }
  fetchKeys();
  function fetchKeys() {
    // the categories of the page's scheme, from the data the server rendered
    document.querySelectorAll("[data-category-key]").forEach((el) => { keys[el.dataset.categoryKey] = el.dataset.categoryId; });
  }
  const family = document.getElementById("family");
  if (family) {
    family.querySelectorAll("button.apply-family").forEach((b) =>
      b.addEventListener("click", () => applyFamily(family, b.dataset.category)));
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.target.closest && ev.target.closest("input, select, textarea")) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const k = ev.key;
    if (k === " " && !ev.repeat) {
      const cell = cells.length ? cells[at] : document.querySelector(".thumb");
      if (cell) { ev.preventDefault(); reveal(cell.classList.contains("thumb") ? cell : cell.querySelector(".thumb")); }
      return;
    }
    if (k === " ") { ev.preventDefault(); return; }
    if (/^[0-9]$/.test(k) && keys[k] !== undefined) {
      ev.preventDefault();
      if (queue && cells.length) categorise(keys[k]);
      else if (family) applyFamily(family, keys[k]);
      return;
    }
    if (!queue || !cells.length) return;
    if (k === "j" || k === "J" || k === "ArrowRight" || k === "ArrowDown") { ev.preventDefault(); select(at + 1); }
    else if (k === "k" || k === "K" || k === "ArrowLeft" || k === "ArrowUp") { ev.preventDefault(); select(at - 1); }
    else if (k === "u" || k === "U") { ev.preventDefault(); undo(); }
    else if (k === "Enter") { window.location.assign("/ui/cases/" + encodeURIComponent(queue.dataset.case) + "/items/" + cells[at].dataset.item); }
  });
  document.addEventListener("keyup", (ev) => { if (ev.key === " ") hide(); });

  // -- a break reminder --------------------------------------------------------------------
  if (queue) {
    const minutes = Number(queue.dataset.breakMinutes || 30);
    const started = Number(sessionStorage.getItem("cairn-review-start") || Date.now());
    sessionStorage.setItem("cairn-review-start", String(started));
    const due = started + minutes * 60000 - Date.now();
    setTimeout(() => {
      const d = document.getElementById("break");
      if (d && d.showModal) { d.showModal(); sessionStorage.setItem("cairn-review-start", String(Date.now())); }
    }, Math.max(0, due));
  }
})();
