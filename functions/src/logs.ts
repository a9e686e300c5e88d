import * as logger from "firebase-functions/logger";

/**
 * Every structured log event of the product, named, with stable fields. Each entry carries
 * `event` (a stable snake_case name) so Cloud Logging queries and log-based metrics can select it:
 *   jsonPayload.event="backup_summary"
 * Nothing here may receive a token, a client secret or a full record payload.
 */

export type Severity = "DEBUG" | "INFO" | "WARNING" | "ERROR";
export type LogFields = Record<string, unknown>;
export interface LogEntry extends LogFields {
  severity: Severity;
  event: string;
  message: string;
}

/** Where entries go: firebase-functions/logger by default; the CLI sends them to stderr. */
export type LogSink = (entry: LogEntry) => void;

const firebaseSink: LogSink = ({ severity, message, ...fields }) => {
  logger.write({ severity, message, ...fields });
};

let sink: LogSink = firebaseSink;
const listeners = new Set<LogSink>();

export function setLogSink(next: LogSink | null): void {
  sink = next ?? firebaseSink;
}

/** Observe every entry (tests assert on them; the CLI's progress display reads them). */
export function onLogEntry(listener: LogSink): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The fields of a run's summary entry (`backup_summary`, `incremental_summary`). */
export type RunSummaryFields = {
  runId: string;
  trigger: string;
  /** `full` or `incremental`. */
  mode: string;
  status: "completed" | "failed";
  durationMs: number;
  missingRecords: number;
  written: number;
  inSync: boolean;
  /** Per resource: the run's stats and its sync health. */
  resources: Readonly<Record<string, object>>;
  syncHealth: Readonly<Record<string, "healthy" | "out_of_sync" | null>>;
  /** Types whose top-level fields appeared or disappeared since the previous run. */
  schemaDrift: Readonly<Record<string, { added: string[]; removed: string[] }>>;
  error?: string | null;
  errorCode?: string | null;
} & LogFields;

export function emit(severity: Severity, event: string, message: string, fields: LogFields = {}) {
  const entry: LogEntry = { ...fields, severity, event, message };
  sink(entry);
  for (const listener of listeners) listener(entry);
}

// ---- OfficeRnD client -------------------------------------------------------------------------

export const logs = {
  tokenFetched(f: { durationMs: number; expiresIn: number; scope: string | null }) {
    emit("INFO", "officernd_token_fetched", "OfficeRnD access token obtained", f);
  },
  tokenRetry(f: { attempt: number; status: number | null; reason: string; waitMs: number }) {
    emit(
      "WARNING",
      "officernd_token_retry",
      `OfficeRnD token request: retrying after ${f.reason}`,
      f,
    );
  },
  tokenInvalidated(f: { reason: string }) {
    emit("INFO", "officernd_token_invalidated", `OfficeRnD access token dropped (${f.reason})`, f);
  },
  officeRndRequest(f: {
    resource: string;
    page: number;
    status: number | null;
    attempt: number;
    waitMs: number;
    durationMs: number;
    records?: number;
  }) {
    emit(
      "DEBUG",
      "officernd_request",
      `OfficeRnD ${f.resource} page ${f.page}: ${f.status ?? "no response"}`,
      f,
    );
  },
  officeRndRetry(f: {
    resource: string;
    page: number;
    attempt: number;
    status: number | null;
    reason: string;
    waitMs: number;
  }) {
    emit(
      "WARNING",
      "officernd_retry",
      `OfficeRnD ${f.resource} page ${f.page}: retrying after ${f.reason}`,
      f,
    );
  },
  recordsRejected(f: { resource: string; page: number; count: number; reasons: string[] }) {
    emit(
      "WARNING",
      "officernd_records_rejected",
      `${f.count} invalid ${f.resource} record(s) on page ${f.page}`,
      f,
    );
  },
  resourceRead(f: {
    resource: string;
    pages: number;
    records: number;
    rejected: number;
    durationMs: number;
  }) {
    emit(
      "INFO",
      "officernd_resource_read",
      `Read ${f.records} ${f.resource} in ${f.pages} page(s)`,
      f,
    );
  },

  // ---- Backup engine --------------------------------------------------------------------------

  backupStarted(f: { runId: string; trigger: string }) {
    emit("INFO", "backup_started", `Backup ${f.runId} started (${f.trigger})`, f);
  },
  backupProgress(f: { runId: string; phase: string; resource?: string } & LogFields) {
    emit(
      "INFO",
      "backup_progress",
      `Backup ${f.runId}: ${f.phase}${f.resource ? ` ${f.resource}` : ""}`,
      f,
    );
  },
  /** A full run stopped at its time budget with its position saved; it goes on (same run id). */
  backupContinuing(f: { runId: string; continuation: number } & LogFields) {
    emit(
      "INFO",
      "backup_continuing",
      `Backup ${f.runId} goes on in continuation ${f.continuation}`,
      f,
    );
  },
  backupLockBusy(f: { runId: string; heldBy: string; expiresAt: string }) {
    emit(
      "WARNING",
      "backup_lock_busy",
      `Backup ${f.runId} not started: run ${f.heldBy} is in progress`,
      f,
    );
  },
  /** The lease is held but its holder has not been seen renewing it: watching it lapse. */
  backupLockWaiting(f: { runId: string; heldBy: string; expiresAt: string }) {
    emit(
      "INFO",
      "backup_lock_waiting",
      `Backup ${f.runId} waits: run ${f.heldBy} holds the lock (expires ${f.expiresAt})`,
      f,
    );
  },
  /** A lease whose heartbeat had stopped (a killed run) lapsed and was taken over. */
  backupLockTakenOver(f: { runId: string; previousRunId: string; waitedMs: number }) {
    emit(
      "WARNING",
      "backup_lock_taken_over",
      `Backup ${f.runId} took over the lock of run ${f.previousRunId}, whose heartbeat had stopped`,
      f,
    );
  },
  /**
   * The one summary entry per run; the log-based metrics in monitoring/ read its fields
   * (status, missingRecords, syncHealth.<resource>), and test/monitoring/monitoring.test.ts holds them
   * to it. `syncHealth` comes from the caller (the engine's rule, backup/sync-health.ts).
   */
  backupSummary(f: RunSummaryFields) {
    emit(
      f.status === "completed" ? "INFO" : "ERROR",
      "backup_summary",
      `Backup ${f.runId} ${f.status}: ${f.missingRecords} missing, ${f.written} written`,
      f,
    );
  },
  /**
   * An incremental run's summary: the same fields as `backup_summary`, plus `coverage` (how each
   * type was read, or why it was left to the full backup). Its own event, so the full backup's
   * log-based metrics and its 48-hour alert never count an incremental run.
   */
  incrementalSummary(
    f: RunSummaryFields & {
      coverage?: Readonly<Record<string, { read: string; note: string | null }>>;
    },
  ) {
    const skipped = Object.entries(f.coverage ?? {})
      .filter(([, c]) => c.read !== "incremental")
      .map(([name, c]) => `${name} (${c.read})`);
    emit(
      f.status === "completed" ? "INFO" : "ERROR",
      "incremental_summary",
      `Incremental sync ${f.runId} ${f.status}: ${f.written} written` +
        (skipped.length > 0 ? `; full backup only: ${skipped.join(", ")}` : ""),
      f,
    );
  },
  backupFailed(f: { runId: string; code: string; error: string }) {
    emit("ERROR", "backup_failed", `Backup ${f.runId} failed: ${f.error}`, f);
  },

  // ---- Configuration ----------------------------------------------------------------------------

  /**
   * A deployed function found a param or secret missing or malformed: `variable` names it and
   * `detail` says what is wrong, never its value. Runs then record a `config_error` failure; the
   * `api` function answers 503 `config_error`.
   */
  configError(f: { variable: string; detail: string; functionName: string; runId?: string }) {
    emit(
      "ERROR",
      "config_error",
      `${f.functionName}: configuration error: ${f.variable} ${f.detail}`,
      f,
    );
  },

  // ---- HTTP -----------------------------------------------------------------------------------

  /** One per request. `path` never carries the query string; no header values are logged. */
  httpRequest(f: {
    method: string;
    path: string;
    status: number;
    durationMs: number;
    requestId?: string;
    /** How the caller authenticated: "status_token", "admin:<uid>", or absent. */
    principal?: string;
  }) {
    emit("INFO", "http_request", `${f.method} ${f.path} ${f.status}`, f);
  },
  httpError(f: { method: string; path: string; error: string; requestId?: string }) {
    emit("ERROR", "http_error", `${f.method} ${f.path} failed: ${f.error}`, f);
  },
  /** A caller was refused; `reason` is a fixed code, never the credential. */
  httpAuthRejected(f: { method: string; path: string; reason: string; requestId?: string }) {
    emit("WARNING", "http_auth_rejected", `${f.method} ${f.path}: ${f.reason}`, f);
  },
  /**
   * An ID token could not be checked at all (e.g. Google's signing keys unreachable): answered
   * 500 `auth_unavailable`. `error` is firebase-admin's message, the token redacted.
   */
  httpAuthUnavailable(f: { method: string; path: string; requestId?: string; error: string }) {
    emit("ERROR", "http_auth_unavailable", `${f.method} ${f.path}: ID token not checked`, f);
  },
  /** A stored document the status API reads does not match its schema (it is skipped). */
  statusDocumentInvalid(f: { path: string; issues: string }) {
    emit("WARNING", "status_document_invalid", `${f.path} does not match its schema`, f);
  },

  // ---- Webhooks (POST /v1/office-rnd/webhook) ---------------------------------------------------
  // Never the secret, a signature (sent or expected) or a payload: ids, types and fixed codes.

  /** A signed event handled; `outcome`: applied | unchanged | stale | duplicate. */
  webhookProcessed(f: {
    eventId: string;
    eventType: string;
    outcome: string;
    resource: string;
    recordId: string;
    /** For removals that changed the mirror: marked | deleted. */
    removal: string | null;
    durationMs: number;
    requestId: string;
  }) {
    emit(
      "INFO",
      "webhook_processed",
      `Webhook ${f.eventType} ${f.eventId} (${f.resource} ${f.recordId}): ${f.outcome}`,
      f,
    );
  },
  /** A signed event of a type the mirror does not follow: acknowledged (2xx), nothing written. */
  webhookIgnored(f: {
    eventId: string;
    eventType: string;
    duplicate: boolean;
    durationMs: number;
    requestId: string;
  }) {
    emit(
      "INFO",
      "webhook_ignored",
      `Webhook ${f.eventType} ${f.eventId}: not a mirrored event type, acknowledged`,
      f,
    );
  },
  /** A delivery refused (4xx); `reason` is a fixed code (documents.ts REJECTION_REASONS). */
  webhookRejected(f: {
    reason: string;
    status: number;
    requestId: string;
    bodyBytes: number | null;
    /** The `t` of a signature that verified (stale_timestamp), and its distance from now. */
    signedAt?: number;
    skewSeconds?: number;
    /** What is wrong with a signed payload: field paths and rules, never values. */
    detail?: string;
    eventId?: string;
    eventType?: string;
  }) {
    emit("WARNING", "webhook_rejected", `Webhook rejected (${f.status}): ${f.reason}`, f);
  },
  /** The event could not be stored: answered 5xx so OfficeRnD delivers it again. */
  webhookFailed(f: { eventId: string; eventType: string; error: string; requestId: string }) {
    emit(
      "ERROR",
      "webhook_failed",
      `Webhook ${f.eventType} ${f.eventId} not stored: ${f.error}`,
      f,
    );
  },
  /** The route is not configured on this deployment (e.g. OFFICERND_WEBHOOK_SECRET unset): 503. */
  webhookUnavailable(f: { reason: string; requestId: string }) {
    emit("ERROR", "webhook_unavailable", `Webhook not configured: ${f.reason}`, f);
  },
  /** A delivery counter could not be updated (the delivery itself was answered as usual). */
  webhookStatsFailed(f: { what: string; error: string }) {
    emit("WARNING", "webhook_stats_failed", `Webhook ${f.what} not counted: ${f.error}`, f);
  },

  // ---- Notifications (Slack, email) -------------------------------------------------------------
  // Never the Slack URL, a token or a record: channels, condition codes, run ids, fixed words.

  /** A message went out: `kind` alert | recovery | change | reminder; `open` what is open now. */
  notificationSent(f: {
    channel: string;
    kind: string;
    origin: string;
    runId: string | null;
    open: readonly string[];
    opened: readonly string[];
    resolved: readonly string[];
  }) {
    emit("INFO", "notification_sent", `Notification (${f.kind}) sent by ${f.channel}`, f);
  },
  /** A delivery failed; the next check tries again (the run it followed is unchanged). */
  notificationFailed(f: {
    channel: string;
    kind: string;
    origin: string;
    runId: string | null;
    open: readonly string[];
    error: string;
  }) {
    emit(
      "WARNING",
      "notification_failed",
      `Notification (${f.kind}) by ${f.channel} failed: ${f.error}`,
      f,
    );
  },
  /** The check itself failed (e.g. Firestore unavailable); nothing was sent, the next one retries. */
  notificationCheckFailed(f: { origin: string; error: string }) {
    emit("ERROR", "notification_check_failed", `Notification check failed: ${f.error}`, f);
  },
  /** Another check holds the lease (the end of a run and the hourly check met): it does the work. */
  notificationCheckBusy(f: { origin: string }) {
    emit("DEBUG", "notification_check_busy", "Notification check skipped: another is running", f);
  },
};
