import type { ResourceName } from "../officernd/resources";
import { OfficeRndError } from "../officernd/types";
import { safeErrorMessage } from "./metadata";
import { DuplicateRecordError } from "./reconcile";
import { grpcCode, isTransientFirestoreError } from "../mirror/firestore-errors";
import { formatSeconds, TimeBudgetError } from "./time-budget";

/**
 * What can go wrong in a run, as data: one problem per cause, each with a code, a one-line
 * message, whether a later attempt may succeed, and the resource it concerns. A run collects
 * them; the most important one names the run's error (`combineProblems`).
 */

export type BackupErrorCode =
  | OfficeRndError["code"]
  | "busy"
  | "firestore_read"
  | "firestore_write"
  | "firestore_unavailable"
  | "lock_lost"
  /** The run reached its time budget and stopped (not OfficeRnD's per-request `timeout`). */
  | "time_budget"
  | "shrink_guard"
  | "incomplete_listing"
  | "invalid_records"
  | "unstorable_record"
  | "metadata_write"
  | "config_error"
  | "internal";

/** One problem of a run; also the run's error (the problems combined). No secrets. */
export interface BackupError {
  code: BackupErrorCode;
  /** One line (a run's error: every problem, most important first). */
  message: string;
  /** A later attempt may succeed: the scheduled function rethrows so Cloud Scheduler retries. */
  retryable: boolean;
  resource: ResourceName | null;
}

/** Most important first: what the metadata's `errorCode` and the /errors document carry. */
const PRIORITY: readonly BackupErrorCode[] = [
  "config_error",
  "internal",
  "firestore_unavailable",
  "firestore_read",
  // Why the run ended early: ranks above the reads and the sync it cut short.
  "time_budget",
  "auth",
  "org_not_found",
  "forbidden",
  "quota_exhausted",
  "not_found",
  "bad_request",
  "throttled",
  "server",
  "network",
  "timeout",
  "invalid_response",
  "pagination",
  "duplicate_id",
  "lock_lost",
  "firestore_write",
  "metadata_write",
  "unstorable_record",
  "invalid_records",
  "incomplete_listing",
  "shrink_guard",
  "busy",
];

/** The run's error: the most important problem's code, every problem's message; null if none. */
export function combineProblems(problems: readonly BackupError[]): BackupError | null {
  if (problems.length === 0) return null;
  const sorted = [...problems].sort((a, b) => PRIORITY.indexOf(a.code) - PRIORITY.indexOf(b.code));
  const first = sorted[0] as BackupError;
  return {
    code: first.code,
    message: safeErrorMessage(sorted.map((p) => p.message).join("; ")),
    retryable: first.retryable,
    resource: first.resource,
  };
}

export function describeError(error: unknown): string {
  return safeErrorMessage(error instanceof Error ? error.message : String(error));
}

/** An OfficeRnD read that failed (after the client's own retries). */
export function apiProblem(resource: ResourceName, error: unknown): BackupError {
  if (error instanceof OfficeRndError) {
    return {
      code: error.code,
      message: `${resource}: OfficeRnD read failed (${error.code}): ${describeError(error)}`,
      retryable: error.retryable,
      resource,
    };
  }
  if (error instanceof TimeBudgetError)
    return timeBudgetProblem(error.budgetMs, "reading", resource);
  if (error instanceof DuplicateRecordError) {
    // A record that moved between pages mid-listing: a later listing will not see it twice.
    return { code: "duplicate_id", message: describeError(error), retryable: true, resource };
  }
  return internalProblem(`${resource}: OfficeRnD read failed unexpectedly`, error, resource);
}

export function firestoreProblem(
  code: "firestore_read" | "firestore_write" | "firestore_unavailable" | "metadata_write",
  what: string,
  error: unknown,
  resource: ResourceName | null = null,
): BackupError {
  const grpc = grpcCode(error);
  return {
    code,
    message: `${what}: ${describeError(error)}${grpc === null ? "" : ` (gRPC ${grpc})`}`,
    retryable: isTransientFirestoreError(error),
    resource,
  };
}

export function internalProblem(
  what: string,
  error: unknown,
  resource: ResourceName | null = null,
): BackupError {
  return {
    code: "internal",
    message: `${what}: ${describeError(error)}`,
    retryable: false,
    resource,
  };
}

/** The run's lease was taken over, or not renewed within the renew deadline: no more writes. */
export class LockLostError extends Error {
  constructor(runId: string) {
    super(`run ${runId} lost its lock (taken over, or not renewed in time): sync stopped`);
    this.name = "LockLostError";
  }
}

export function lockLostProblem(runId: string): BackupError {
  return {
    code: "lock_lost",
    message: new LockLostError(runId).message,
    retryable: false,
    resource: null,
  };
}

/**
 * The run stopped at its time budget. Retryable: a later attempt (Cloud Scheduler's retry) starts
 * from what this one wrote, and writes only what still differs.
 */
export function timeBudgetProblem(
  budgetMs: number,
  phase: "reading" | "syncing" | "before syncing",
  resource: ResourceName | null = null,
): BackupError {
  return {
    code: "time_budget",
    message:
      `${resource === null ? "" : `${resource}: `}the run stopped ${phase} at its time budget ` +
      `(${formatSeconds(budgetMs)}) to record itself before its function's timeout`,
    retryable: true,
    resource,
  };
}
