import { perResource, RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import type { ClientStats } from "../officernd/types";
import {
  emptyApiStats,
  emptyResourceStats,
  type ApiStats,
  type BackupTrigger,
  type FieldDrift,
  type IncrementalCoverage,
  type ResourceStats,
  type RunMode,
} from "./documents";
import { ERROR_MESSAGE_CHARS, safeErrorMessage } from "./metadata";
import { combineProblems, type BackupError } from "./problems";

/**
 * A run's result, built in one place (`buildRunResult`) for every way a run can end: completed,
 * failed, busy, or refused before it started (configuration, Firestore down).
 */

export interface BackupRunResult {
  runId: string;
  trigger: BackupTrigger;
  /** `full` (the design's backup) or `incremental` (changed records only, no removal). */
  mode: RunMode;
  /**
   * `continuing`: a full run stopped at its time budget with its position saved; the next attempt
   * (a task-queue continuation, the next CLI `run`) goes on with the same run id (./full-run.ts).
   */
  status: "completed" | "failed" | "busy" | "continuing";
  /** Attempts of this run before this one that handed over to a continuation (0: the first). */
  continuations: number;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  resources: Record<ResourceName, ResourceStats>;
  /** Total missing records across resources (the seed's `missingRecords`). */
  missingRecords: number;
  /** Record documents written (created, replaced, marked removed, deleted). */
  written: number;
  /** Firestore equalled OfficeRnD for every resource when the run ended. */
  inSync: boolean;
  /** OfficeRnD requests of this run. */
  api: ApiStats;
  error: BackupError | null;
  /** When busy: the run holding the lock. */
  heldBy: { runId: string; trigger: BackupTrigger; expiresAt: Date } | null;
  /** Incremental runs: how each selected type was read (or why it was left to the full backup). */
  coverage: Partial<Record<ResourceName, IncrementalCoverage>> | null;
  /** Types whose top-level fields appeared or disappeared since the previous run. */
  schemaDrift: Partial<Record<ResourceName, FieldDrift>>;
}

/** Who the run is and when it started; fixed when it begins. */
export interface RunIdentity {
  runId: string;
  trigger: BackupTrigger;
  mode: RunMode;
  startedAt: Date;
}

export interface RunOutcome {
  finishedAt: Date;
  durationMs: number;
  resources?: Record<ResourceName, ResourceStats>;
  problems: readonly BackupError[];
  written?: number;
  /** Writes skipped because a document changed during the run: not in sync. */
  conflicts?: number;
  api?: ApiStats;
  /** Another run holds the lock (its problem is the `busy` one). */
  heldBy?: BackupRunResult["heldBy"];
  coverage?: BackupRunResult["coverage"];
  schemaDrift?: BackupRunResult["schemaDrift"];
  /** Stopped at its budget with its position saved: the run goes on. */
  continuing?: boolean;
  continuations?: number;
}

export function buildRunResult(run: RunIdentity, outcome: RunOutcome): BackupRunResult {
  const resources = outcome.resources ?? perResource(() => emptyResourceStats());
  const busy = outcome.heldBy != null;
  const continuing = !busy && outcome.continuing === true;
  // What went wrong so far is told when the run ends (its counts are in the checkpoint).
  const error = continuing ? null : combineProblems(outcome.problems);
  return {
    ...run,
    status: busy ? "busy" : continuing ? "continuing" : error === null ? "completed" : "failed",
    continuations: outcome.continuations ?? 0,
    finishedAt: outcome.finishedAt,
    durationMs: Math.max(0, Math.round(outcome.durationMs)),
    resources,
    missingRecords: RESOURCE_NAMES.reduce((sum, n) => sum + resources[n].missing, 0),
    written: outcome.written ?? 0,
    inSync: !continuing && error === null && (outcome.conflicts ?? 0) === 0,
    api: outcome.api ?? emptyApiStats(),
    error,
    heldBy: outcome.heldBy ?? null,
    coverage: outcome.coverage ?? null,
    schemaDrift: outcome.schemaDrift ?? {},
  };
}

/**
 * The same result, failed, with one more problem after its own (e.g. the run could not be
 * recorded): the run's own error keeps its code, since it is what happened.
 */
export function withProblem(result: BackupRunResult, problem: BackupError): BackupRunResult {
  // The run's own message is shortened to make room: the problem added at its end (e.g. that
  // the run could not be recorded) must not be what the length limit cuts off.
  const added = safeErrorMessage(problem.message);
  const room = ERROR_MESSAGE_CHARS - added.length - 2;
  const message = result.error
    ? `${safeErrorMessage(result.error.message, room)}; ${added}`
    : added;
  return {
    ...result,
    status: "failed",
    inSync: false,
    error: {
      code: result.error?.code ?? problem.code,
      message: safeErrorMessage(message),
      retryable: result.error?.retryable ?? problem.retryable,
      resource: result.error?.resource ?? null,
    },
  };
}

/**
 * Whether the function should rethrow this result, so Cloud Scheduler (or Cloud Tasks) retries
 * it: a failure a later attempt may fix, or a scheduled run that found another in progress (its
 * `busy` error is retryable only then; see the policy in ./run.ts).
 */
export function shouldRetry(result: BackupRunResult): boolean {
  return result.status !== "completed" && result.error !== null && result.error.retryable;
}

/** A run's OfficeRnD requests: the reader's counters now, less those when it began. */
export function apiDelta(before: ClientStats, after: ClientStats): ApiStats {
  type Counter = "requests" | "tokenRequests" | "retries" | "throttled" | "waitMs";
  const d = (k: Counter) => Math.max(0, Math.round(after[k] - before[k]));
  const budget = after.budget;
  return {
    requests: d("requests"),
    tokenRequests: d("tokenRequests"),
    retries: d("retries"),
    throttled: d("throttled"),
    waitMs: d("waitMs"),
    // What this run used of OfficeRnD's read budget, and what its last answer said was left.
    budget:
      budget === undefined
        ? null
        : { ...budget, used: Math.max(0, budget.used - (before.budget?.used ?? 0)) },
  };
}
