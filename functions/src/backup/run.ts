/**
 * The backup engine's orchestrator. One run: take the lease, keep it alive, keep the time budget,
 * run the phases (./run-phases.ts) and record the result:
 *   full:        listing (./listing-phase.ts: OfficeRnD's pages merged with the collection in id
 *                order, creates and updates written as pages arrive) → removals
 *                (./removal-phase.ts, after a complete, verified listing) → conflicts; resumable
 *                from a checkpoint (./full-run.ts, ./checkpoint.ts);
 *   incremental: read changed records (./read-and-plan.ts) → plan (./plan.ts, pure) → sync;
 *   then record (./record-phase.ts): metadata, history, /errors and the summary log entry.
 * Every result is built by ./run-result.ts and every problem is a ./problems.ts BackupError.
 * Plain TypeScript: the scheduled function, the admin callable, the task queue, the HTTP trigger
 * and the CLI all call `beginBackup` / `runBackup` with a Firestore, an OfficeRnD reader and the
 * backup config.
 *
 * Failure semantics (a run never throws for an expected failure; it records it and returns):
 * - An OfficeRnD read failure (after the client's own retries), a duplicate id in a listing, or a
 *   Firestore read failure: the listings stop; the creates and updates already written stay
 *   (each is OfficeRnD's record as read, written only over the version read), nothing is removed
 *   (removals need a complete listing); the run is `failed`.
 * - Records the client rejected (no valid `_id`) for a resource: its other records are written,
 *   none of its documents is removed (a rejected record would look orphaned); `invalid_records`.
 * - Removal guard: OfficeRnD lists nothing for a resource that has documents, or a run would
 *   remove more than BACKUP_SHRINK_GUARD of them or more than BACKUP_MAX_REMOVALS: no removals
 *   for it; `failed` (`shrink_guard`). OfficeRnD's `/count` above the listing: the same,
 *   `incomplete_listing` (retryable).
 * - A record Firestore cannot store (e.g. an array inside an array): that record alone is not
 *   written (its document, if any, stays as it is); `failed` (`unstorable_record`).
 * - A write refused after retries, or the sync stopped midway: `failed` (`firestore_write`); every
 *   write is conditional on the version read, so the next run converges.
 * - A document changed after this run read it (a webhook): left alone, counted in `conflicts`,
 *   the run still `completed` but not `inSync`; the next run compares it again.
 * - Another run holds the lock: status `busy`, nothing written, no metadata change, logged. A
 *   lease whose heartbeat stopped (a killed run) is waited out, at most one lease (15 s), and
 *   taken over (./lock.ts).
 * - The run's lease was taken over, or not renewed within the renew deadline: no further chunk is
 *   written; `failed` (`lock_lost`).
 * - The run reached its time budget (`deps.timeBudgetMs`, ./time-budget.ts): a full run stops at
 *   a page boundary, writes what it read, saves its checkpoint and ends `continuing` (history
 *   only; the next attempt goes on with the same run id). A phase that does not stop within a
 *   grace (or an incremental run) is recorded `failed` (`time_budget`, retryable), and the lease
 *   is released before the function's timeout would kill the run unrecorded.
 *
 * What the scheduled function does with the result (rethrow policy, `shouldRetry`):
 * - `completed`: return normally; `continuing`: enqueue the continuation (../triggers/).
 * - `failed` with `error.retryable` (OfficeRnD 429/5xx/network/timeouts that outlasted the
 *   client's retries, Firestore unavailable, the sync interrupted, the time budget spent), or
 *   `busy` when scheduled: rethrow, so Cloud Scheduler's
 *   retry config retries the run later (retries are safe: nothing half-applied can be wrong, and
 *   a retry that finds the data in sync writes nothing).
 * - `failed` and not retryable (shrink guard, rejected or unstorable records, bad credentials or
 *   scopes, invalid responses): return normally. A retry would fail the same way; the failure is
 *   in the metadata, in /errors and in the logs, where the alerts look.
 */
import { performance } from "node:perf_hooks";
import { logs } from "../logs";
import type { ClientStats } from "../officernd/types";
import { within } from "../mirror/deadline";
import type { BackupTrigger } from "./documents";
import {
  keepLeaseAlive,
  leaseTiming,
  releaseBackupLock,
  takeBackupLease,
  type LeaseHolder,
  type LeaseHeartbeat,
  type LockAttempt,
} from "./lock";
import { newRunId, safeErrorMessage } from "./metadata";
import { observeFields } from "./field-observer";
import type { SyncPlan } from "./plan";
import { firestoreProblem, LockLostError, timeBudgetProblem, type BackupError } from "./problems";
import { loadCheckpoint } from "./checkpoint";
import { handOverCutOff } from "./run-resume";
import { runPhases, type Progress } from "./run-phases";
import { recordRun } from "./record-phase";
import { firestoreTimeout, type BackupDeps, type BackupOptions } from "./run-deps";
import {
  apiDelta,
  buildRunResult,
  type BackupRunResult,
  type RunIdentity,
  type RunOutcome,
} from "./run-result";
import {
  budgetedHooks,
  budgetedReader,
  startTimeBudget,
  withinBudget,
  WIND_DOWN_STEP_MS,
  type TimeBudget,
} from "./time-budget";

export type { BackupDeps, BackupHooks, BackupOptions } from "./run-deps";
export type { BackupError, BackupErrorCode } from "./problems";
export { shouldRetry, type BackupRunResult } from "./run-result";

export type BackupStart =
  | {
      busy: true;
      runId: string;
      heldBy: string;
      heldByTrigger: BackupTrigger;
      expiresAt: Date;
      result: BackupRunResult;
    }
  | { busy: false; runId: string; completion: Promise<BackupRunResult> };

/** One run's identity, clock and starting point (for durations and the API counters). */
interface RunContext extends RunIdentity {
  deps: BackupDeps;
  /** Abandon an unfinished run's checkpoint instead of going on with it. */
  fresh: boolean;
  now: () => Date;
  /** performance.now() at the start: durations use a monotonic clock. */
  started: number;
  statsBefore: ClientStats;
}

/**
 * Takes the lock and starts a run. Busy: `{busy: true, heldBy, expiresAt}` (nothing else done;
 * logged). Otherwise `{busy: false, runId, completion}`: completion resolves with the result and
 * never rejects (an HTTP route can answer 202 with the run id, or 409 when busy). A lease whose
 * holder stopped renewing it (a killed run) is waited out, at most one lease (./lock.ts).
 */
export async function beginBackup(deps: BackupDeps, options: BackupOptions): Promise<BackupStart> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const ctx: RunContext = {
    deps,
    runId: options.runId ?? newRunId(startedAt),
    trigger: options.trigger,
    mode: options.mode ?? "full",
    fresh: options.fresh ?? false,
    now,
    startedAt,
    started: performance.now(),
    statsBefore: deps.reader.stats(),
  };
  const { runId } = ctx;
  const timing = leaseTiming(deps.lockTtlMs);
  let attempt: LockAttempt;
  try {
    attempt = await takeBackupLease(deps.db, {
      runId,
      trigger: options.trigger,
      now,
      timing,
      stepTimeoutMs: firestoreTimeout(deps),
    });
  } catch (error) {
    // Firestore is unreachable: there is no run to protect, and the record will likely fail too.
    const problem = firestoreProblem(
      "firestore_unavailable",
      "could not take the backup lock",
      error,
    );
    return { busy: false, runId, completion: recordRun(deps, finish(ctx, [problem])) };
  }
  if (!attempt.acquired) {
    logs.backupLockBusy({
      runId,
      heldBy: attempt.heldBy,
      expiresAt: attempt.expiresAt.toISOString(),
    });
    const busy: BackupError = {
      code: "busy",
      message: `run ${attempt.heldBy} (${attempt.trigger}) is in progress; its lock expires at ${attempt.expiresAt.toISOString()}`,
      // A scheduled run that finds another in progress is retried by Cloud Scheduler: counted as
      // done, it would skip the day's backup should the other run fail or die. Manual callers
      // see `busy` (and a task's duplicate delivery must not run again).
      retryable: options.trigger === "schedule",
      resource: null,
    };
    const heldBy = {
      runId: attempt.heldBy,
      trigger: attempt.trigger,
      expiresAt: attempt.expiresAt,
    };
    return {
      busy: true,
      runId,
      heldBy: attempt.heldBy,
      heldByTrigger: attempt.trigger,
      expiresAt: attempt.expiresAt,
      result: finish(ctx, [busy], { heldBy }),
    };
  }
  const { holder } = attempt;
  if (options.resumeOnly !== undefined && options.mode !== "incremental") {
    const skipped = await nothingToResume(ctx, holder, options.resumeOnly);
    if (skipped !== null) return { busy: false, runId, completion: Promise.resolve(skipped) };
  }
  logs.backupStarted({ runId, trigger: options.trigger });
  const completion = (async () => {
    const budget = startTimeBudget(deps.timeBudgetMs, ctx.started);
    // Once the budget is spent, recording and releasing must fit in what is left of the margin.
    const stepMs = () =>
      budget.spent ? Math.min(firestoreTimeout(deps), WIND_DOWN_STEP_MS) : firestoreTimeout(deps);
    // Renewed until the run is recorded and its checkpoint settled, so no other attempt takes
    // the lease over and resumes a run that is ending.
    const lease = keepLeaseAlive(deps.db, holder, now, timing);
    try {
      const { result, afterRecord } = await execute(ctx, lease, budget, stepMs);
      const recorded = await recordRun({ ...deps, firestoreTimeoutMs: stepMs() }, result);
      await afterRecord?.();
      return recorded;
    } finally {
      lease.stop();
      budget.dispose();
      // Bounded: when Firestore is down the lease stays until it lapses (seconds).
      await within(releaseBackupLock(deps.db, holder), stepMs()).catch(() => false);
    }
  })();
  return { busy: false, runId, completion };
}

/**
 * The run itself, under its lease and within its time budget (./run-phases.ts). Never throws.
 * Phases still busy a grace (stopGraceMs) after the budget is spent are cut off: they may write
 * nothing more (not even the checkpoint), and a full run whose checkpoint exists is handed over
 * as `continuing` (it goes on from its last saved position); otherwise the run is recorded failed
 * (`time_budget`). Reads are harmless and every write is conditional on the version read.
 */
async function execute(
  ctx: RunContext,
  lease: LeaseHeartbeat,
  budget: TimeBudget,
  stepMs: () => number,
): Promise<{ result: BackupRunResult; afterRecord?: () => Promise<void> }> {
  const progress: Progress = { plan: null, written: 0, continuations: null };
  const halt = new AbortController();
  const hooks = ctx.deps.hooks;
  // The fields of the records listed, for schema drift (./schema-drift.ts).
  const fields = observeFields(budgetedReader(ctx.deps.reader, budget));
  const deps: BackupDeps = {
    ...ctx.deps,
    reader: fields.reader,
    hooks: budgetedHooks(
      {
        ...hooks,
        afterWriteChunk: async (chunk) => {
          progress.written = chunk.written;
          await hooks?.afterWriteChunk?.(chunk);
          // Right before the next chunk: a lease lost meanwhile stops the sync here.
          if (lease.lost && chunk.done < chunk.total) throw new LockLostError(ctx.runId);
        },
      },
      budget,
    ),
  };
  const context = { lease, budget, progress, observed: fields.observed, halt: halt.signal };
  const work = runPhases(ctx, deps, context).then(({ problems, outcome, afterRecord }) => ({
    result: finish(ctx, problems, outcome),
    afterRecord,
  }));
  // The heartbeat goes on until the run is recorded (beginBackup stops it).
  const done = await withinBudget(work, budget);
  if (done !== null) return done;
  halt.abort();
  return { result: await cutOff(ctx, deps, progress, budget, stepMs) };
}

/** The result of a run whose phases did not stop within the grace after its budget. */
async function cutOff(
  ctx: RunContext,
  deps: BackupDeps,
  progress: Progress,
  budget: TimeBudget,
  stepMs: () => number,
): Promise<BackupRunResult> {
  if (ctx.mode === "full" && progress.continuations !== null) {
    const handedOver = await within(handOverCutOff(deps, ctx.runId), stepMs()).catch(() => null);
    if (handedOver !== null) {
      return finish(ctx, [], {
        continuing: true,
        continuations: handedOver,
        written: progress.written,
      });
    }
  }
  const { plan, written } = progress;
  const stopped = timeBudgetProblem(budget.budgetMs ?? 0, plan === null ? "reading" : "syncing");
  return finish(ctx, [...(plan?.problems ?? []), stopped], { plan, written });
}

/**
 * A continuation whose hand-over is no longer the run's latest when it gets the lease: the run
 * ended (another attempt finished it), or another attempt (a duplicate delivery of the task, a
 * scheduled retry) went on from that hand-over already. The lease is released and nothing is run
 * or recorded; when the run is at the very next hand-over, the result is `continuing` again, so
 * the task handler enqueues that hand-over's task (again). Null when the run's checkpoint is at
 * this task's hand-over.
 */
async function nothingToResume(
  ctx: RunContext,
  holder: LeaseHolder,
  expected: { runId: string; continuation: number },
): Promise<BackupRunResult | null> {
  const { db } = ctx.deps;
  const { runId, continuation } = expected;
  const step = firestoreTimeout(ctx.deps);
  const saved = await within(loadCheckpoint(db, step), step).catch(() => undefined);
  // Unreadable: go ahead (the run resumes if its checkpoint is there, and is recorded either way).
  if (saved === undefined) return null;
  // A failed run's position kept for the next run is not this run going on: it has ended.
  const checkpoint = saved?.checkpoint.endedFailed ? null : saved?.checkpoint;
  if (checkpoint?.runId === runId && checkpoint.continuations === continuation) return null;
  if (checkpoint?.runId === runId && checkpoint.continuations === continuation + 1) {
    // The hand-over after this task's was saved, but its task may not have been enqueued (the
    // enqueue failed, so Cloud Tasks delivered this one again): hand over again. Enqueueing is
    // idempotent (the task id is the run's and the hand-over's: ../triggers/continuation.ts).
    await within(releaseBackupLock(db, holder), step).catch(() => false);
    logs.backupProgress({ runId, phase: "continuation_handed_over_again", continuation });
    return finish(ctx, [], { continuing: true, continuations: continuation });
  }
  const reason =
    checkpoint?.runId === runId
      ? `another attempt went on from hand-over ${continuation} (now ${checkpoint.continuations})`
      : "the run has ended";
  await within(releaseBackupLock(db, holder), step).catch(() => false);
  logs.backupProgress({ runId, phase: "continuation_skipped", reason });
  return finish(ctx, [
    {
      code: "busy",
      message: `run ${runId}: ${reason}; nothing to continue`,
      retryable: false,
      resource: null,
    },
  ]);
}

/** The run's result as it stands now (./run-result.ts builds every result). */
function finish(
  ctx: RunContext,
  problems: readonly BackupError[],
  extra: Omit<Partial<RunOutcome>, "problems" | "finishedAt" | "durationMs" | "api"> & {
    plan?: SyncPlan | null;
  } = {},
): BackupRunResult {
  // The identity alone: the context also holds the deps, which have no place in a result.
  const { runId, trigger, mode, startedAt } = ctx;
  const { plan, ...outcome } = extra;
  return buildRunResult(
    { runId, trigger, mode, startedAt },
    {
      ...outcome,
      finishedAt: ctx.now(),
      durationMs: performance.now() - ctx.started,
      resources: outcome.resources ?? plan?.resources,
      problems,
      api: apiDelta(ctx.statsBefore, ctx.deps.reader.stats()),
    },
  );
}

/** One run, start to end: begin + await. Busy gives a result with status `busy`. */
export async function runBackup(
  deps: BackupDeps,
  options: BackupOptions,
): Promise<BackupRunResult> {
  const start = await beginBackup(deps, options);
  return start.busy ? start.result : start.completion;
}

/**
 * A run that cannot start because a param or secret is missing or malformed: recorded like any
 * failed run (metadata, history, /errors, the summary and failure log entries) with the code
 * `config_error` and `message`, which names the variable and never holds its value. Nothing is
 * read and no lock is taken. Not retryable: a retry would read the same configuration.
 */
export async function recordConfigFailure(
  deps: Pick<BackupDeps, "db" | "now" | "firestoreTimeoutMs">,
  options: BackupOptions,
  message: string,
): Promise<BackupRunResult> {
  const startedAt = (deps.now ?? (() => new Date()))();
  const run = {
    runId: options.runId ?? newRunId(startedAt),
    trigger: options.trigger,
    mode: options.mode ?? "full",
    startedAt,
  };
  const problem: BackupError = {
    code: "config_error",
    message: safeErrorMessage(message),
    retryable: false,
    resource: null,
  };
  return recordRun(
    deps,
    buildRunResult(run, { finishedAt: startedAt, durationMs: 0, problems: [problem] }),
  );
}
