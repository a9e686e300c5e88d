import type { Firestore } from "firebase-admin/firestore";
import { RUN_MODES } from "../backup/documents";
import { readBackupRuns } from "../backup/metadata";
import { RESOURCE_NAMES } from "../officernd/resources";
import { toRunSummary, type BackupRunSummary } from "../status";
import { formatDuration, table } from "./format";

/**
 * `officernd-backup history [--limit N]`: the newest N runs from the run history, full
 * (/officeRndMetadata/backup-metadata/runs) and incremental (/officeRndMetadata/incremental-state/
 * runs) merged, newest first, each as `GET /v1/office-rnd/backups` lists it. History documents that do not match the schema are reported, not hidden.
 */

export interface HistoryReport {
  limit: number;
  runs: BackupRunSummary[];
  /** History documents skipped because they do not match the schema. */
  invalid: { path: string; issues: string }[];
}

export async function readHistory(db: Firestore, limit: number): Promise<HistoryReport> {
  const { runs, invalid } = await readBackupRuns(db, limit, RUN_MODES);
  return {
    limit,
    runs: runs.map(toRunSummary),
    invalid: invalid.map((e) => ({ path: e.path, issues: e.issues })),
  };
}

function sum(run: BackupRunSummary, field: "changed" | "orphaned"): number {
  return RESOURCE_NAMES.reduce((total, n) => total + run.resources[n][field], 0);
}

/**
 * OfficeRnD records listed by the run, all resources; "-" when a resource could not be read (an
 * incremental run's types left to the full backup count 0).
 */
function apiTotal(run: BackupRunSummary): string {
  let total = 0;
  for (const n of RESOURCE_NAMES) {
    const api = run.resources[n].api;
    if (api === null && run.mode === "full") return "-";
    total += api ?? 0;
  }
  return String(total);
}

export function formatHistory(report: HistoryReport): string {
  const lines: string[] = [];
  if (report.runs.length === 0) {
    lines.push("No backup runs recorded yet.");
  } else {
    lines.push(
      `The ${report.runs.length} newest run(s) (limit ${report.limit}), newest first:`,
      "",
    );
    const headers = [
      "started (UTC)",
      "trigger",
      "mode",
      "status",
      "duration",
      "api",
      "missing",
      "changed",
      "orphaned",
      "written",
      "in sync",
      "error",
    ];
    const rows = report.runs.map((run) => [
      run.startedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      run.trigger,
      run.mode,
      run.status,
      formatDuration(run.durationMs),
      apiTotal(run),
      String(run.missingRecords),
      String(sum(run, "changed")),
      String(sum(run, "orphaned")),
      String(run.written),
      run.inSync ? "yes" : "no",
      run.error?.code ?? "",
    ]);
    lines.push(
      ...table(headers, rows, [
        "left",
        "left",
        "left",
        "left",
        "right",
        "right",
        "right",
        "right",
        "right",
        "right",
        "left",
        "left",
      ]),
    );
    const failed = report.runs.filter((r) => r.error !== null);
    if (failed.length > 0) lines.push("");
    for (const run of failed) lines.push(`${run.runId}: ${run.error?.message ?? ""}`);
  }
  for (const bad of report.invalid) {
    lines.push(`Skipped ${bad.path}: does not match the schema (${bad.issues})`);
  }
  return lines.join("\n");
}
