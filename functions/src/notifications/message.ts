import type { BackupMetadata } from "../backup/documents";
import { safeErrorMessage } from "../backup/metadata";
import { RESOURCE_NAMES } from "../officernd/resources";
import type { Redactor } from "../shared/redactor";
import {
  CONDITION_TITLES,
  RUNBOOK_SECTIONS,
  type NotifiedCondition,
  type OpenAlert,
} from "./conditions";
import type { Decision } from "./decide";

/**
 * One notification's content (pure), shared by Slack and email: what changed, the open
 * conditions with the status endpoint's words, the latest run (id, trigger, counts, error), and
 * where to look. Only ids, counts, codes and the engine's own error message (redacted, cut to
 * 300 characters) go in: never a record's fields, a token or a URL with a credential.
 */

export interface NotificationContent {
  subject: string;
  headline: string;
  /** Each line one condition: opened, still open or resolved. */
  conditions: { code: NotifiedCondition; state: "opened" | "open" | "resolved"; text: string }[];
  run: RunFacts | null;
  /** Per data type, as the latest run counted. */
  counts: CountRow[];
  whereToLook: string[];
  dashboardUrl: string | null;
}

export interface RunFacts {
  runId: string;
  trigger: string;
  status: string;
  finishedAt: string;
  durationSeconds: number;
  missingRecords: number;
  written: number;
  inSync: boolean;
  error: string | null;
}

export interface CountRow {
  resource: string;
  firestore: number;
  api: number | null;
  missing: number;
  changed: number;
  orphaned: number;
}

const PREFIX = "[OfficeRnD backup]";
const ERROR_CHARS = 300;

function titles(codes: readonly NotifiedCondition[]): string {
  return codes.map((c) => CONDITION_TITLES[c]).join(", ");
}

function subjectOf(decision: Decision): string {
  switch (decision.kind) {
    case "alert":
      return `${PREFIX} ALERT: ${titles(decision.opened)}`;
    case "recovery":
      return `${PREFIX} Recovered: ${titles(decision.resolved)}`;
    case "change":
      return `${PREFIX} Resolved: ${titles(decision.resolved)}; still open: ${titles(decision.open)}`;
    case "reminder":
      return `${PREFIX} Reminder, still open: ${titles(decision.open)}`;
  }
}

function headlineOf(decision: Decision): string {
  switch (decision.kind) {
    case "alert":
      return `${decision.opened.length === 1 ? "An alert" : "Alerts"} opened: ${titles(decision.opened)}`;
    case "recovery":
      return "All clear: every alert has resolved";
    case "change":
      return `${titles(decision.resolved)} resolved; ${decision.open.length} still open`;
    case "reminder":
      return `Still open after a day: ${titles(decision.open)}`;
  }
}

function runFacts(run: BackupMetadata, redactor: Redactor): RunFacts {
  const error =
    run.status === "failed"
      ? `${run.errorCode ?? "error"}: ${redactor.redact(safeErrorMessage(run.error ?? "no message recorded"))}`
      : null;
  return {
    runId: run.runId,
    trigger: run.trigger,
    status: run.status,
    finishedAt: run.finishedAt.toDate().toISOString(),
    durationSeconds: Math.round(run.durationMs / 100) / 10,
    missingRecords: run.missingRecords,
    written: run.written,
    inSync: run.inSync,
    error: error && error.length > ERROR_CHARS ? `${error.slice(0, ERROR_CHARS - 1)}…` : error,
  };
}

export function buildContent(input: {
  decision: Decision;
  alerts: readonly OpenAlert[];
  latest: BackupMetadata | null;
  dashboardUrl: string | null;
  redactor: Redactor;
}): NotificationContent {
  const { decision, alerts, latest, dashboardUrl, redactor } = input;
  const messageOf = (code: NotifiedCondition) =>
    redactor.redact(alerts.find((a) => a.code === code)?.message ?? CONDITION_TITLES[code]);
  const conditions = [
    ...decision.open.map((code) => ({
      code,
      state: decision.opened.includes(code) ? ("opened" as const) : ("open" as const),
      text: `${CONDITION_TITLES[code]}: ${messageOf(code)}`,
    })),
    ...decision.resolved.map((code) => ({
      code,
      state: "resolved" as const,
      text: `${CONDITION_TITLES[code]}: resolved`,
    })),
  ];
  const counts: CountRow[] = latest
    ? RESOURCE_NAMES.filter((name) => latest.resources[name] !== undefined).map((name) => {
        const s = latest.resources[name];
        return {
          resource: name,
          firestore: s.firestore,
          api: s.api,
          missing: s.missing,
          changed: s.changed,
          orphaned: s.orphaned,
        };
      })
    : [];
  const sections = [...new Set(decision.open.map((c) => RUNBOOK_SECTIONS[c]))];
  const whereToLook = [
    ...(dashboardUrl ? [`Dashboard: ${dashboardUrl}`] : []),
    "`npm run cli -- status` and `npm run cli -- errors --limit 5` (the recorded error, its code)",
    'Logs: jsonPayload.event="backup_summary" (Cloud Logging)',
    `Runbook (docs/runbook.md): ${sections.length > 0 ? sections.map((s) => `"${s}"`).join(", ") : '"Alerts"'}`,
  ];
  return {
    subject: subjectOf(decision),
    headline: headlineOf(decision),
    conditions,
    run: latest ? runFacts(latest, redactor) : null,
    counts,
    whereToLook,
    dashboardUrl,
  };
}
