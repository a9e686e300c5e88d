import { Timestamp } from "firebase-admin/firestore";
import { logs, type RunSummaryFields } from "../logs";
import { within } from "../mirror/deadline";
import type { BackupMetadata } from "./documents";
import { recordBackupRun } from "./metadata";
import { firestoreProblem } from "./problems";
import { runSyncHealth } from "./sync-health";
import { firestoreTimeout, type BackupDeps } from "./run-deps";
import { withProblem, type BackupRunResult } from "./run-result";

/**
 * Phase 4 of a run, record: the metadata document (full runs only), the run's history entry and,
 * when it failed, an /errors document (one batch, ./metadata.ts), then the summary log entry the
 * alerts read.
 * Never throws: a run that cannot be recorded says so in its result and its log entries.
 */

/** The design document's metadata fields, then ours (./documents.ts). */
function toMetadata(result: BackupRunResult): Omit<BackupMetadata, "lastCompletedAt"> {
  return {
    lastBackup: Timestamp.fromDate(result.startedAt),
    firestoreMembers: result.resources.members.firestore,
    apiMembers: result.resources.members.api,
    missingRecords: result.missingRecords,
    status: result.status === "busy" ? "failed" : result.status,
    error: result.error?.message ?? null,
    updatedAt: Timestamp.fromDate(result.finishedAt),
    runId: result.runId,
    trigger: result.trigger,
    startedAt: Timestamp.fromDate(result.startedAt),
    finishedAt: Timestamp.fromDate(result.finishedAt),
    durationMs: result.durationMs,
    errorCode: result.error?.code ?? null,
    inSync: result.inSync,
    resources: result.resources,
    written: result.written,
    errorRetryable: result.error?.retryable ?? false,
    api: result.api,
    continuations: result.continuations,
    mode: result.mode,
    coverage: result.coverage,
    schemaDrift: result.schemaDrift,
  };
}

export async function recordRun(
  deps: Pick<BackupDeps, "db" | "firestoreTimeoutMs">,
  result: BackupRunResult,
): Promise<BackupRunResult> {
  let final = result;
  try {
    await within(
      recordBackupRun(deps.db, {
        run: toMetadata(result),
        failure: result.error && {
          code: result.error.code,
          message: result.error.message,
          resource: result.error.resource,
        },
      }),
      firestoreTimeout(deps),
    );
  } catch (error) {
    final = withProblem(
      result,
      firestoreProblem("metadata_write", "could not record the run", error),
    );
  }
  // An incremental run has its own summary event: the log-based metrics and the 48-hour alert
  // (monitoring/) count the full backup's `backup_summary` entries only.
  const fields: RunSummaryFields = {
    runId: final.runId,
    trigger: final.trigger,
    mode: final.mode,
    status: final.status === "completed" ? "completed" : "failed",
    durationMs: final.durationMs,
    missingRecords: final.missingRecords,
    written: final.written,
    inSync: final.inSync,
    resources: final.resources,
    syncHealth: runSyncHealth({
      ...final,
      status: final.status === "completed" ? "completed" : "failed",
    }),
    api: final.api,
    error: final.error?.message ?? null,
    errorCode: final.error?.code ?? null,
    retryable: final.error?.retryable ?? false,
    schemaDrift: final.schemaDrift,
  };
  if (final.status === "continuing") {
    // Not the run's end: its summary comes when it ends (the alerts count summaries).
    logs.backupContinuing({
      runId: final.runId,
      continuation: final.continuations + 1,
      durationMs: final.durationMs,
      written: final.written,
      resources: final.resources,
      api: final.api,
    });
  } else if (final.mode === "full") logs.backupSummary(fields);
  else logs.incrementalSummary({ ...fields, coverage: final.coverage ?? {} });
  if (final.error) {
    logs.backupFailed({ runId: final.runId, code: final.error.code, error: final.error.message });
  }
  return final;
}
