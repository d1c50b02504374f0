// The operator page: sources, their last runs, failures, harvests on demand.
import { api, clearError, el, formatDateTime, formatNumber, guarded, hiddenText, initLogin } from "./common.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const RUNS_SHOWN = 5;

const RUN_STATUS = {
  running: "läuft",
  succeeded: "erfolgreich",
  unchanged: "unverändert (übersprungen)",
  failed: "fehlgeschlagen",
};

function statusBadge(status) {
  return el("span", { class: `run-status run-${status}` }, RUN_STATUS[status] || status);
}

function counts(run) {
  return `${formatNumber(run.records_read)} gelesen, ${formatNumber(run.records_loaded)} geladen, ${formatNumber(run.records_rejected)} abgelehnt`;
}

function runsTable(source, runs) {
  if (!runs.length) return el("p", { class: "form-text" }, "Diese Quelle wurde noch nicht geerntet.");
  const header = ["Lauf", "Beginn", "Ende", "Status", "gelesen", "geladen", "abgelehnt", "Meldung"];
  return el(
    "div",
    { class: "table-responsive" },
    el(
      "table",
      { class: "table table-sm runs" },
      el("caption", {}, `Letzte Läufe von „${source.title}“`),
      el("thead", {}, el("tr", {}, header.map((h) => el("th", { scope: "col" }, h)))),
      el(
        "tbody",
        {},
        runs.map((run) =>
          el(
            "tr",
            { "data-run-id": String(run.id) },
            el("td", {}, String(run.id)),
            el("td", {}, formatDateTime(run.started_at)),
            el("td", {}, formatDateTime(run.finished_at)),
            el("td", {}, statusBadge(run.status)),
            el("td", { class: "num", "data-count": "read" }, formatNumber(run.records_read)),
            el("td", { class: "num", "data-count": "loaded" }, formatNumber(run.records_loaded)),
            el("td", { class: "num", "data-count": "rejected" }, formatNumber(run.records_rejected)),
            el("td", {}, run.message || ""),
          ),
        ),
      ),
    ),
  );
}

async function rejectedReasons(run) {
  if (!run || !run.records_rejected) return null;
  const details = await api(`/api/runs/${run.id}?limit=5`);
  if (details.records_withheld) {
    return el("p", { class: "form-text" }, "Die abgelehnten Einzelsätze dieser zugriffsbeschränkten Quelle werden hier nicht gezeigt.");
  }
  return el(
    "div",
    {},
    el("p", { class: "mb-1" }, `Abgelehnte Sätze des letzten Laufs (die ersten ${details.rejected_records.length}):`),
    el(
      "ul",
      {},
      details.rejected_records.map((r) => el("li", {}, `${r.record_ref || "ohne Kennung"}: ${r.reason}`)),
    ),
  );
}

function lastRunSummary(run) {
  if (!run) return el("p", { class: "last-run" }, "Letzter Lauf: noch keiner.");
  const parts = [
    el("strong", {}, "Letzter Lauf: "),
    statusBadge(run.status),
    ` am ${formatDateTime(run.started_at)} – ${counts(run)}.`,
  ];
  const summary = el("p", { class: "last-run", "data-last-run": String(run.id) }, ...parts);
  if (run.status === "failed") {
    return [summary, el("p", { class: "failure" }, el("strong", {}, "Fehler: "), run.message || "ohne Meldung")];
  }
  return summary;
}

async function sourceCard(source) {
  const runs = await api(`/api/sources/${encodeURIComponent(source.id)}/runs?limit=${RUNS_SHOWN}`);
  const last = runs[0] || source.last_run;
  const status = el("p", { class: "harvest-status", role: "status", id: `harvest-status-${source.id}` });
  const force = el("input", { type: "checkbox", class: "form-check-input", id: `force-${source.id}` });
  const button = el("button", { type: "button", class: "btn btn-primary", "data-source": source.id }, "Ernte starten", hiddenText(`: ${source.title}`));
  const card = el(
    "article",
    { class: "source", id: `quelle-${source.id}`, "aria-labelledby": `quelle-titel-${source.id}`, "data-source": source.id },
    el("h2", { class: "h4", id: `quelle-titel-${source.id}` }, source.title),
    el(
      "p",
      { class: "source-meta" },
      `Kennung ${source.id} · ${source.format} über ${source.protocol} · Zugriff ${source.access === "open" ? "offen" : "beschränkt"}`,
      source.schedule ? ` · Zeitplan ${source.schedule}` : "",
      source.enabled ? "" : " · abgeschaltet",
    ),
    lastRunSummary(last),
    await rejectedReasons(last).catch(() => null),
    el(
      "div",
      { class: "harvest" },
      button,
      el("div", { class: "form-check" }, force, el("label", { class: "form-check-label", for: force.id }, "auch neu laden, wenn die Quelle unverändert ist")),
    ),
    status,
    el("details", {}, el("summary", {}, `Letzte Läufe (${runs.length})`), runsTable(source, runs)),
  );
  button.addEventListener("click", () => guarded(() => harvest(source, force.checked, button, status)));
  return card;
}

async function harvest(source, force, button, status) {
  clearError();
  button.disabled = true;
  try {
    const started = await api(`/api/sources/${encodeURIComponent(source.id)}/harvest${force ? "?force=true" : ""}`, { method: "POST" });
    status.textContent = `Lauf ${started.run_id} von „${source.title}“ gestartet …`;
    let run;
    for (;;) {
      run = await api(`/api/runs/${started.run_id}?limit=5`);
      if (run.status !== "running") break;
      status.textContent = `Lauf ${run.id}: läuft – bisher ${counts(run)}.`;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const text = `Lauf ${run.id}: ${RUN_STATUS[run.status] || run.status} – ${counts(run)}.`;
    const fresh = await sourceCard({ ...source, last_run: run });
    document.getElementById(`quelle-${source.id}`).replaceWith(fresh);
    summarise();
    const newStatus = document.getElementById(`harvest-status-${source.id}`);
    newStatus.textContent = run.status === "failed" ? `${text} Fehler: ${run.message || "ohne Meldung"}` : text;
    fresh.querySelector("button[data-source]").focus();
  } finally {
    button.disabled = false;
  }
}

async function loadSources() {
  $("sources-state").textContent = "Quellen werden geladen …";
  const sources = await api("/api/sources");
  const cards = await Promise.all(sources.map(sourceCard));
  $("sources").replaceChildren(...cards);
  summarise();
}

function summarise() {
  const count = $("sources").querySelectorAll("article.source").length;
  const failed = $("sources").querySelectorAll("article.source .failure").length;
  $("sources-state").textContent =
    `${count} Quellen` + (failed ? `, davon ${failed} mit fehlgeschlagenem letzten Lauf.` : ", keine mit fehlgeschlagenem letzten Lauf.");
}

initLogin((me) => {
  $("sources").replaceChildren();
  if (me.role === "operator") {
    guarded(loadSources);
  } else if (me.role === "planner") {
    $("sources-state").textContent = "Ihr Schlüssel gehört zur Rolle Planung. Diese Seite braucht einen Schlüssel des Betriebs.";
  } else {
    $("sources-state").textContent = "Bitte mit einem Betriebsschlüssel anmelden.";
    $("login").open = true;
  }
});
