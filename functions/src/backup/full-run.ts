import { Timestamp } from "firebase-admin/firestore";
import { logs } from "../logs";
import { perResource, RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import { saveCheckpoint, saveProgress, type Checkpoint } from "./checkpoint";
import { readPreviousConflicts, recordConflicts } from "./conflicts";
import { emptyResourceStats, type ResourceStats } from "./documents";
import type { ObservedFields } from "./field-observer";
import { writeStreamFor, type ListingOutcome } from "./listing-phase";
import { firestoreProblem, lockLostProblem, LockLostError, type BackupError } from "./problems";
import { emptyProgress, type ResourceProgress } from "./progress";
import { CLOCK_MARGIN_MS } from "./reconcile";
import { settleRemovals } from "./removal-phase";
import { startOrResume, type RunStart } from "./run-resume";
import { listType } from "./split-listing";
import { firestoreTimeout, type BackupDeps } from "./run-deps";
import { progressStats, resourceProblems } from "./stream-result";
import type { TimeBudget } from "./time-budget";

/**
 * A full run, resumable: listing (./listing-phase.ts: read, diff and write creates and updates as
 * pages arrive) → removals (./removal-phase.ts, once a listing is complete and verified) → the
 * conflicts for the next run. Its position is saved in a checkpoint (./checkpoint.ts), so a run
 * that reaches its time budget ends as `continuing` and the next attempt (a Cloud Tasks
 * continuation, the next CLI `run`, Cloud Scheduler's retry, a run after a crash) goes on from
 * there with the same run id; when the run ends its checkpoint is deleted, or, after a failure
 * on something passing, kept as the next run's starting position (./run-resume.ts).
 */

/** Who the attempt is (a resumed run takes on the identity of the run it goes on with). */
export type FullRunContext = RunStart;

export interface FullRunOutcome {
  /** The run id and start of the logical run (a resumed one keeps its first attempt's). */
  runId: string;
  startedAt: Date;
  resources: Record<ResourceName, ResourceStats>;
  problems: BackupError[];
  written: number;
  conflicts: number;
  /** Stopped at its budget with its position saved: the run goes on in a continuation. */
  continuing: boolean;
  /** Attempts before this one that handed over to a continuation. */
  continuations: number;
  /** The fields of the records listed, across the run's attempts (for schema drift). */
  observed: ObservedFields;
  /**
   * Once the run is recorded (endCheckpoint): `clear` (it ended), `seed` (it failed on something
   * passing: its position starts the next run), `keep` (it goes on, or its lease was lost).
   */
  checkpointAfter: "clear" | "seed" | "keep";
}

export interface FullRunHooks {
  /** Throws LockLostError when the run's lease is lost (checked before each write chunk). */
  assertLease: () => void;
  /** After each chunk of writes, with the documents it wrote. */
  afterChunk?: (written: number) => void | Promise<void>;
  /** False once the lease is lost or the run cut off: no write of the checkpoint either. */
  mayWrite: () => boolean;
  /** The run's identity, once known (a resumed run keeps its first attempt's). */
  onRun?: (identity: {
    runId: string;
    startedAt: Date;
    trigger: Checkpoint["trigger"];
    continuations: number;
  }) => void;
}

/** Starts or resumes the full run (./run-resume.ts); never throws for an expected failure. */
export async function runFullBackup(
  deps: BackupDeps,
  ctx: FullRunContext,
  budget: TimeBudget,
  hooks: FullRunHooks,
  options: { fresh?: boolean } = {},
): Promise<FullRunOutcome> {
  const timeout = firestoreTimeout(deps);
  const names = deps.resources ?? RESOURCE_NAMES;
  const previous = await readPreviousConflicts(deps.db, timeout).catch(() => ({
    ids: new Map<ResourceName, ReadonlySet<string>>(),
    readTime: Date.now() - CLOCK_MARGIN_MS,
  }));
  let started;
  try {
    started = await startOrResume(deps, ctx, names, previous.readTime, {
      fresh: options.fresh ?? false,
    });
  } catch (error) {
    return {
      runId: ctx.runId,
      startedAt: ctx.startedAt,
      resources: perResource(() => emptyResourceStats()),
      problems: [
        firestoreProblem("firestore_read", "could not read or save the checkpoint", error),
      ],
      written: 0,
      conflicts: 0,
      continuing: false,
      continuations: 0,
      observed: observedFields(new Map()),
      checkpointAfter: "keep",
    };
  }
  const { checkpoint, progress, ranges } = started;
  hooks.onRun?.({
    runId: checkpoint.runId,
    startedAt: checkpoint.startedAt.toDate(),
    trigger: checkpoint.trigger,
    continuations: checkpoint.continuations,
  });
  const run = {
    runId: checkpoint.runId,
    now: ctx.now,
    budget,
    controller: new AbortController(),
    listingStartedAt: checkpoint.listingStartedAt,
    previousConflicts: previous.ids,
    assertLease: hooks.assertLease,
    mayWrite: hooks.mayWrite,
    afterChunk: hooks.afterChunk,
  };
  const listings = await Promise.all(
    names.map((name) => listType(deps, run, name, progressOf(progress, name), ranges)),
  );
  const failed = () =>
    listings.some((l) => l.apiError !== null || l.firestoreError !== null || l.stream.failed);
  const stopped = () => listings.some((l) => l.stream.stoppedBy !== null);
  let continuing = !failed() && !stopped() && listings.some((l) => l.budgetStop);
  const problems: BackupError[] = [];
  if (!failed() && !stopped() && !continuing) {
    for (const name of names) {
      if (budget.spent) {
        continuing = true;
        break;
      }
      const stream = writeStreamFor(deps, run, progressOf(progress, name));
      try {
        await settleRemovals(deps, run, name, progressOf(progress, name), stream);
        // Decided and done: an attempt that goes on does not decide them again.
        if (!stream.stopped && hooks.mayWrite()) {
          await saveProgress(deps.db, run.runId, name, progressOf(progress, name), timeout);
        }
      } catch (error) {
        problems.push(
          firestoreProblem("firestore_read", `${name}: removals not decided`, error, name),
        );
      }
      const listing = listings.find((l) => l.resource === name);
      if (listing) listing.stream = mergeStreams(listing.stream, stream);
    }
  }
  // Recomputed after the removals: a lease lost there stops this attempt too.
  const lockLost =
    listings.some((l) => l.stream.stoppedBy instanceof LockLostError) || !hooks.mayWrite();
  if (continuing && !lockLost) {
    const saved = await saveCheckpoint(
      deps.db,
      { ...checkpoint, continuations: checkpoint.continuations + 1, updatedAt: now(ctx) },
      timeout,
    ).then(
      () => null,
      (error: unknown) =>
        firestoreProblem("firestore_write", "could not save the checkpoint", error),
    );
    if (saved !== null) {
      continuing = false;
      problems.push(saved);
    }
  }
  if (lockLost) continuing = false;
  const resources = perResource(() => emptyResourceStats());
  for (const name of names) {
    const stats = progressStats(name, progressOf(progress, name));
    resources[name] = stats;
    const listing = listings.find((l) => l.resource === name) ?? null;
    problems.push(...resourceProblems(name, progressOf(progress, name), listing, stats));
  }
  if (lockLost && !problems.some((p) => p.code === "lock_lost")) {
    problems.push(lockLostProblem(ctx.runId));
  }
  // Ended (completed, or failed for good): its conflicts for the next run, then, once the run
  // is recorded, its checkpoint deleted. A transient failure keeps the checkpoint: the retry
  // goes on from it (and re-reads nothing it need not). Not this attempt's after a lost lease.
  const ended = !continuing && !lockLost;
  // OfficeRnD's daily quota spent is not retried today, but tomorrow's run must go on from here:
  // an organization needing more than a day's quota would otherwise never finish a run.
  const transient =
    problems.length > 0 && problems.every((p) => p.retryable || p.code === "quota_exhausted");
  if (ended && hooks.mayWrite())
    await rememberConflicts(deps, run.runId, ctx, names, progress, problems);
  const written = names.reduce((sum, n) => sum + progressOf(progress, n).written, 0);
  const conflicts = names.reduce((sum, n) => sum + resources[n].conflicts, 0);
  if (continuing) {
    logs.backupProgress({
      runId: run.runId,
      phase: "continuing",
      continuation: checkpoint.continuations + 1,
      written,
    });
  }
  return {
    runId: run.runId,
    startedAt: checkpoint.startedAt.toDate(),
    resources,
    problems,
    written,
    conflicts,
    continuing,
    continuations: checkpoint.continuations,
    observed: observedFields(progress),
    checkpointAfter: !ended ? "keep" : transient ? "seed" : "clear",
  };
}

/** The fields seen per type, as schema drift takes them: only listings that ran to their end. */
function observedFields(progress: ReadonlyMap<ResourceName, ResourceProgress>): ObservedFields {
  const fields = new Map<ResourceName, ReadonlySet<string>>();
  const complete = new Set<ResourceName>();
  const records = new Map<ResourceName, number>();
  for (const [name, p] of progress) {
    fields.set(name, new Set(p.fields));
    records.set(name, p.api);
    if (p.listed) complete.add(name);
  }
  return { fields, complete, records };
}

function now(ctx: FullRunContext): Timestamp {
  return Timestamp.fromDate(ctx.now());
}

function progressOf(
  progress: Map<ResourceName, ResourceProgress>,
  name: ResourceName,
): ResourceProgress {
  let p = progress.get(name);
  if (p === undefined) {
    p = emptyProgress();
    progress.set(name, p);
  }
  return p;
}

/** Both streams' failures, the listing's first. */
function mergeStreams(
  a: ListingOutcome["stream"],
  b: ListingOutcome["stream"],
): ListingOutcome["stream"] {
  return {
    failed: a.failed ?? b.failed,
    failedCount: a.failedCount + b.failedCount,
    stoppedBy: a.stoppedBy ?? b.stoppedBy,
    notAttempted: a.notAttempted + b.notAttempted,
  };
}

/** The run ended: what it left alone, for the next run to repair if it finds it again. */
async function rememberConflicts(
  deps: BackupDeps,
  runId: string,
  ctx: FullRunContext,
  names: readonly ResourceName[],
  progress: Map<ResourceName, ResourceProgress>,
  problems: BackupError[],
): Promise<void> {
  const listed = names.filter((n) => progressOf(progress, n).listed);
  try {
    await recordConflicts(
      deps.db,
      { runId, now: ctx.now() },
      Object.fromEntries(listed.map((n) => [n, progressOf(progress, n).deferredIds])),
      firestoreTimeout(deps),
    );
  } catch (error) {
    problems.push(
      firestoreProblem("firestore_write", "could not record this run's conflicts", error),
    );
  }
}
