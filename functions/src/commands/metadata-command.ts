import type { Firestore } from "firebase-admin/firestore";
import { backupMetadataSchema, type BackupMetadata } from "../backup/documents";
import { readBackupLock } from "../backup/lock";
import { metadataRef } from "../backup/metadata";
import { RESOURCE_NAMES } from "../officernd/resources";
import { runInProgress } from "../status/metrics";
import type { BackupStatusResponse } from "../status/schema";
import {
  formatDuration,
  formatReadBudget,
  indent,
  table,
  toJsonValue,
  type JsonValue,
} from "./format";

/**
 * `officernd-backup metadata`: /officeRndMetadata/backup-metadata as stored (what the design
 * document's `firebase firestore:get /officeRndMetadata/backup-metadata` meant), checked against
 * its schema, plus the run lock when a run holds it. Reads two documents; writes nothing.
 */

export interface MetadataReport {
  path: string;
  exists: boolean;
  /** The document matches the engine's schema. */
  valid: boolean;
  /** Why it does not (first issues), when it exists and is not valid. */
  issues: string | null;
  /** Every stored field; timestamps as ISO 8601 UTC strings. Null when there is no document. */
  document: Record<string, JsonValue> | null;
  /** The run holding the backup lock now, if any. */
  inProgress: BackupStatusResponse["backup"]["inProgress"];
}

/** The report (what `--json` prints) and the typed document when it is valid (for the text). */
export interface MetadataResult {
  report: MetadataReport;
  metadata: BackupMetadata | null;
}

export async function readMetadata(db: Firestore, now: Date = new Date()): Promise<MetadataResult> {
  const ref = metadataRef(db);
  const [snap, lock] = await Promise.all([ref.get(), readBackupLock(db, now)]);
  const inProgress = runInProgress(lock, now);
  if (!snap.exists) {
    return {
      report: {
        path: ref.path,
        exists: false,
        valid: false,
        issues: null,
        document: null,
        inProgress,
      },
      metadata: null,
    };
  }
  const data = snap.data() ?? {};
  const parsed = backupMetadataSchema.safeParse(data);
  const issues = parsed.success
    ? null
    : parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
        .join("; ");
  return {
    report: {
      path: ref.path,
      exists: true,
      valid: parsed.success,
      issues,
      document: toJsonValue(data) as Record<string, JsonValue>,
      inProgress,
    },
    metadata: parsed.success ? parsed.data : null,
  };
}

function yesNo(value: boolean): string {
  return value ? "yes" : "no";
}

function describeRun(m: BackupMetadata): string[] {
  const iso = (t: { toDate(): Date }) => t.toDate().toISOString();
  const rows: [string, string][] = [
    ["status", m.status],
    ["runId", `${m.runId} (${m.trigger})`],
    ["lastBackup", iso(m.lastBackup)],
    ["finishedAt", `${iso(m.finishedAt)} (took ${formatDuration(m.durationMs)})`],
    ["lastCompletedAt", m.lastCompletedAt ? iso(m.lastCompletedAt) : "never"],
    ["missingRecords", String(m.missingRecords)],
    ["written", `${m.written} document(s)`],
    ["inSync", yesNo(m.inSync)],
    ["members", `${m.firestoreMembers} in Firestore, ${m.apiMembers ?? "?"} in OfficeRnD`],
  ];
  if (m.status === "failed") {
    rows.push(["error", `${m.errorCode ?? "?"}: ${m.error ?? "(no message)"}`]);
    rows.push(["retryable", yesNo(m.errorRetryable)]);
  }
  if (m.api) {
    rows.push([
      "OfficeRnD",
      `${m.api.requests} request(s), ${m.api.tokenRequests} token request(s), ` +
        `${m.api.retries} retried, ${m.api.throttled} throttled, waited ${formatDuration(m.api.waitMs)}`,
    ]);
    rows.push(["read budget", formatReadBudget(m.api.budget)]);
  }
  rows.push(["updatedAt", iso(m.updatedAt)]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);

  const headers = ["resource", "firestore", "api", "missing", "changed", "orphaned", "written"];
  const resourceRows = RESOURCE_NAMES.map((name) => {
    const s = m.resources[name];
    const cells = [s.firestore, s.api ?? "-", s.missing, s.changed, s.orphaned, s.written];
    return [name, ...cells.map(String)];
  });
  lines.push(
    "",
    ...table(headers, resourceRows, ["left", ...headers.slice(1).map(() => "right" as const)]),
  );
  for (const name of RESOURCE_NAMES) {
    const s = m.resources[name];
    // The engine's notes already start with the resource's name.
    if (s.error !== null)
      lines.push(s.error.startsWith(`${name}:`) ? s.error : `${name}: ${s.error}`);
  }
  return lines;
}

export function formatMetadata({ report, metadata }: MetadataResult): string {
  const lines: string[] = [];
  if (!report.exists) {
    lines.push(`${report.path}: no such document (no backup has run yet).`);
  } else if (metadata === null) {
    lines.push(`${report.path}: does NOT match the engine's schema: ${report.issues ?? ""}`);
    lines.push("Stored fields:", ...indent(JSON.stringify(report.document, null, 2).split("\n")));
  } else {
    lines.push(report.path, ...indent(describeRun(metadata)));
  }
  const p = report.inProgress;
  lines.push(
    "",
    p
      ? `Run in progress: ${p.runId} (${p.trigger}), started ${p.startedAt}, lock expires ${p.expiresAt}`
      : "No run in progress.",
  );
  return lines.join("\n");
}
