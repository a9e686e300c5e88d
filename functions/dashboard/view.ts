import type { Snapshot } from "./api";
import { drawCharts, destroyCharts } from "./charts";
import {
  DASH,
  formatCount,
  formatDuration,
  formatFieldChange,
  formatPercent,
  formatTime,
} from "./format";
import { oldestFirst } from "./series";
import type { BackupRunSummary } from "./types";

/**
 * The dashboard's DOM, built from one snapshot each time (text only: nothing from the API is
 * parsed as HTML). `clearDashboard` leaves nothing of it behind.
 */

type Child = Node | string | null | false;

function h(tag: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === false) continue;
    el.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return el;
}

function card(
  metric: string,
  title: string,
  value: string,
  detail: string,
  tone = "",
): HTMLElement {
  return h(
    "article",
    { class: `card ${tone}`.trim(), "data-metric": metric },
    h("h3", {}, title),
    h("p", { class: "value" }, value),
    h("p", { class: "detail" }, detail),
  );
}

function cards(snapshot: Snapshot): HTMLElement {
  const { backup, metrics } = snapshot.status;
  const c = metrics.dataConsistency;
  const s = metrics.successRate;
  const r = metrics.timeToRecover;
  const stateTone =
    backup.status === "completed" ? "good" : backup.status === "failed" ? "bad" : "";
  return h(
    "div",
    { class: "cards" },
    card(
      "status",
      "Latest backup",
      backup.status.replace("_", " "),
      backup.runId
        ? `${formatTime(backup.lastBackup)} · ${backup.trigger ?? ""} · ${backup.runId}`
        : "no run yet",
      stateTone,
    ),
    card(
      "missing",
      "Missing records",
      formatCount(backup.missingRecords),
      "found by the latest run",
    ),
    card(
      "consistency",
      "Data consistency",
      formatPercent(c.percent),
      c.totalRecords === null
        ? "records in sync at the latest run"
        : `${formatCount(c.inSyncRecords)} of ${formatCount(c.totalRecords)} in sync · average ${formatPercent(c.averagePercent)}`,
    ),
    card(
      "success",
      "Success rate",
      formatPercent(s.percent),
      `${s.completed} of ${s.runs} runs completed`,
      s.failed > 0 ? "warn" : "",
    ),
    card(
      "recovery",
      "Recovery time",
      formatDuration(r.lastMs),
      r.unresolvedSince
        ? `unresolved since ${formatTime(r.unresolvedSince)}`
        : `average ${formatDuration(r.averageMs)} over ${r.recoveries} recover${r.recoveries === 1 ? "y" : "ies"}`,
      r.unresolvedSince ? "warn" : "",
    ),
    card(
      "last-completed",
      "Last completed",
      formatTime(backup.lastCompleted),
      backup.inProgress
        ? `run ${backup.inProgress.runId} in progress`
        : backup.continuing
          ? `run ${backup.continuing.runId} going on`
          : "latest run that completed",
      "time",
    ),
    incrementalCard(snapshot),
  );
}

function incrementalCard({ status }: Snapshot): HTMLElement {
  const last = status.incrementalSync.lastRun;
  if (last === null) {
    return card("incremental", "Incremental sync", "not run", "changed records between backups");
  }
  const leftOut = Object.keys(last.fullBackupOnly).length;
  return card(
    "incremental",
    "Incremental sync",
    last.status,
    `${formatTime(last.finishedAt)} · ${formatCount(last.written)} written` +
      (leftOut > 0 ? ` · ${leftOut} type${leftOut === 1 ? "" : "s"} full backup only` : ""),
    last.status === "completed" ? "good" : "bad",
  );
}

/** A full run too long for one function run, going on from its checkpoint (docs/scaling.md). */
function continuing({ status }: Snapshot): HTMLElement | null {
  const run = status.backup.continuing;
  if (run === null) return null;
  const rows = Object.entries(run.resources).map(([name, r]) =>
    h(
      "tr",
      { "data-continuing": name },
      h("th", { scope: "row" }, name),
      h("td", { "data-label": "Listed" }, formatCount(r.listed)),
      h("td", { "data-label": "Written" }, formatCount(r.written)),
      h("td", { "data-label": "Done" }, r.done ? "yes" : "no"),
    ),
  );
  return h(
    "section",
    { class: "panel", "aria-labelledby": "continuing-title" },
    h("h2", { id: "continuing-title" }, "Run going on"),
    h(
      "p",
      { class: "continuing-about" },
      `${run.runId} (${run.trigger}) started ${formatTime(run.startedAt)} · handed over ` +
        `${run.continuations} time${run.continuations === 1 ? "" : "s"} · saved ${formatTime(run.updatedAt)}`,
    ),
    h(
      "table",
      { class: "grid continuing" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["Type", "Listed", "Written", "Done"].map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h("tbody", {}, ...rows),
    ),
  );
}

function alerts({ status }: Snapshot): HTMLElement {
  const list = status.alerts.map((a) =>
    h(
      "li",
      { class: `alert ${a.severity}`, "data-alert": a.code },
      h("strong", {}, a.severity),
      ` ${a.message}`,
    ),
  );
  return h(
    "section",
    { class: "panel", "aria-labelledby": "alerts-title" },
    h("h2", { id: "alerts-title" }, "Alerts"),
    list.length > 0 ? h("ul", { class: "alerts" }, ...list) : h("p", { class: "ok" }, "No alerts."),
  );
}

function counts({ status }: Snapshot): HTMLElement {
  const schema = (name: string) => status.schemaDrift[name as keyof typeof status.schemaDrift];
  const rows = Object.entries(status.currentStats).map(([name, s]) =>
    h(
      "tr",
      { "data-type": name },
      h("th", { scope: "row" }, name),
      h("td", { "data-label": "Firestore" }, formatCount(s.firestore)),
      h("td", { "data-label": "OfficeRnD" }, formatCount(s.api)),
      h("td", { "data-label": "Missing" }, formatCount(s.missing)),
      h(
        "td",
        { "data-label": "Sync" },
        status.syncHealth[name as keyof typeof status.syncHealth]?.replace("_", " ") ?? DASH,
      ),
      h("td", { "data-label": "Fields" }, formatCount(schema(name)?.fields ?? null)),
      h(
        "td",
        { "data-label": "Schema change", class: "schema-change" },
        formatFieldChange(schema(name)?.lastChange ?? null),
      ),
    ),
  );
  return h(
    "section",
    { class: "panel", "aria-labelledby": "counts-title" },
    h("h2", { id: "counts-title" }, "Records per data type"),
    h(
      "table",
      { class: "grid counts" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["Type", "Firestore", "OfficeRnD", "Missing", "Sync", "Fields", "Schema change"].map(
            (t) => h("th", { scope: "col" }, t),
          ),
        ),
      ),
      h("tbody", {}, ...rows),
    ),
  );
}

function runRow(run: BackupRunSummary): HTMLElement {
  const error = run.error ? `${run.error.code ?? "error"}: ${run.error.message}` : "";
  return h(
    "tr",
    { class: run.status, "data-run": run.runId },
    h("td", { "data-label": "Started" }, formatTime(run.startedAt)),
    h(
      "td",
      { "data-label": "Trigger" },
      run.mode === "full" ? run.trigger : `${run.trigger} · ${run.mode}`,
    ),
    h("td", { "data-label": "Status" }, run.status),
    h("td", { "data-label": "Duration" }, formatDuration(run.durationMs)),
    h("td", { "data-label": "Missing" }, formatCount(run.missingRecords)),
    h("td", { "data-label": "Written" }, formatCount(run.written)),
    h("td", { "data-label": "In sync" }, run.inSync ? "yes" : "no"),
    h("td", { "data-label": "Error", class: "error-cell" }, error),
  );
}

function runsTable({ runs }: Snapshot): HTMLElement {
  const head = [
    "Started",
    "Trigger",
    "Status",
    "Duration",
    "Missing",
    "Written",
    "In sync",
    "Error",
  ];
  return h(
    "section",
    { class: "panel", "aria-labelledby": "runs-title" },
    h("h2", { id: "runs-title" }, "Recent runs"),
    runs.length === 0
      ? h("p", {}, "No runs yet.")
      : h(
          "table",
          { class: "grid runs" },
          h("thead", {}, h("tr", {}, ...head.map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, ...runs.slice(0, 20).map(runRow)),
        ),
  );
}

function chart(
  id: string,
  title: string,
  about: string,
): { figure: HTMLElement; box: HTMLElement } {
  const box = h("div", { class: "plot", id: `chart-${id}` });
  const figure = h(
    "figure",
    { class: "chart" },
    h("figcaption", {}, h("strong", {}, title), h("span", {}, about)),
    box,
  );
  return { figure, box };
}

function chartsTitle(backups: number): string {
  if (backups === 0) return "Run history";
  return backups === 1 ? "Over the last backup" : `Over the last ${backups} backups`;
}

export function renderDashboard(root: HTMLElement, snapshot: Snapshot): void {
  const consistency = chart(
    "consistency",
    "Data consistency",
    "% of records each run found in sync",
  );
  const success = chart(
    "success",
    "Backup reliability",
    "success rate of the runs shown, after each run",
  );
  const recovery = chart(
    "recovery",
    "Recovery time",
    "from the run that found a problem to the run that ended in sync",
  );
  const volume = chart("volume", "Data volume", "records OfficeRnD listed per data type");
  const { status } = snapshot;
  root.replaceChildren(
    cards(snapshot),
    alerts(snapshot),
    continuing(snapshot) ?? "",
    h(
      "section",
      { class: "panel", "aria-labelledby": "charts-title" },
      h("h2", { id: "charts-title" }, chartsTitle(oldestFirst(snapshot.runs).length)),
      h(
        "div",
        { class: "charts" },
        consistency.figure,
        success.figure,
        recovery.figure,
        volume.figure,
      ),
    ),
    counts(snapshot),
    runsTable(snapshot),
    h(
      "p",
      { class: "footnote" },
      `Checked ${formatTime(status.lastChecked)} · refreshes every minute · webhooks last received ${formatTime(status.webhooks.lastReceivedAt)}`,
    ),
  );
  drawCharts(
    {
      consistency: consistency.box,
      success: success.box,
      recovery: recovery.box,
      volume: volume.box,
    },
    snapshot,
  );
}

export function clearDashboard(root: HTMLElement): void {
  destroyCharts();
  root.replaceChildren();
}
