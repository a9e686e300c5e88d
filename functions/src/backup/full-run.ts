import { Timestamp } from "firebase-admin/firestore";
import { logs } from "../logs";
import { perResource, RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import {
  clearCheckpoint,
  loadCheckpoint,
  MAX_CONTINUATIONS,
  saveAdopted,
  saveCheckpoint,
  saveProgress,
  type Checkpoint,
} from "./checkpoint";
import { readPreviousConflicts, recordConflicts } from "./conflicts";
import { emptyResourceStats, type ResourceStats } from "./documents";
import type { ObservedFields } from "./field-observer";
import { listResource, type ListingOutcome } from "./listing-phase";
import { firestoreProblem, lockLostProblem, LockLostError, type BackupError } from "./problems";
import { emptyProgress, type ResourceProgress } from "./progress";
import { CLOCK_MARGIN_MS } from "./reconcile";
import { settleRemovals } from "./removal-phase";
import { firestoreTimeout, type BackupDeps } from "./run-deps";
import { progressStats, resourceProblems } from "./stream-result";
import type { TimeBudget } from "./time-budget";
import { WriteStream } from "./write-stream";

/**
 * A full run, resumable: listing (./listing-phase.ts: read, diff and write creates and updates as
 * pages arrive) → removals (./removal-phase.ts, once a listing is complete and verified) → the
 * conflicts for the next run. Its position is saved in a checkpoint (./checkpoint.ts), so a run
 * that reaches its time budget ends as `continuing` and the next attempt (a Cloud Tasks
 * continuation, the next CLI `run`, Cloud Scheduler's retry, a run after a crash) goes on from
 * there with the same run id; the checkpoint is deleted when the run ends, completed or failed.
 */

export interface FullRunContext {
  runId: string;
  trigger: Checkpoint["trigger"];
  startedAt: Date;
  now: () => Date;
}

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

/** Starts or resumes the full run; never throws for an expected failure. */
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
  const { checkpoint, progress } = started;
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
    names.map((name) => listResource(deps, run, name, progressOf(progress, name))),
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
      const stream = new WriteStream(deps.db, progressOf(progress, name), {
        chunkSize: Math.max(1, deps.writeChunkSize ?? 500),
        chunkTimeoutMs: timeout,
        now: ctx.now,
        bulkWriter: deps.bulkWriter,
        beforeChunk: hooks.assertLease,
        afterChunk: hooks.afterChunk,
      });
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

/** The saved run to go on with, or a new one (whose checkpoint is saved now). */
async function startOrResume(
  deps: BackupDeps,
  ctx: FullRunContext,
  names: readonly ResourceName[],
  listingStartedAt: number,
  options: { fresh: boolean },
): Promise<{ checkpoint: Checkpoint; progress: Map<ResourceName, ResourceProgress> }> {
  const timeout = firestoreTimeout(deps);
  const saved = await loadCheckpoint(deps.db, timeout);
  if (saved !== null) {
    const { checkpoint } = saved;
    const abandon = options.fresh || checkpoint.continuations >= MAX_CONTINUATIONS;
    if (!abandon && checkpoint.endedFailed) {
      // A run that failed on something passing (OfficeRnD's 5xx, its daily quota): this run goes
      // on from its position under its own id; the failed run keeps its record. The listing start
      // stays the first one (documents written since are not removed).
      const adopted: Checkpoint = {
        ...checkpoint,
        runId: ctx.runId,
        trigger: ctx.trigger,
        startedAt: Timestamp.fromDate(ctx.startedAt),
        continuations: 0,
        endedFailed: false,
        updatedAt: now(ctx),
      };
      const progress = startedOver(consistent(saved.progress));
      // Header and positions at once: positions left under the old id would be ignored.
      await saveAdopted(deps.db, adopted, progress, timeout);
      logs.backupProgress({ runId: ctx.runId, phase: "resumed", after: checkpoint.runId });
      return { checkpoint: adopted, progress };
    }
    // Every resource listed, checked and settled: the run ended (a crash before its checkpoint
    // was cleared); resuming it would read nothing and skip today's backup.
    const done = names.every((n) => {
      const p = saved.progress.get(n);
      return p !== undefined && p.listed && p.counted && p.settled;
    });
    if (!abandon && !done) {
      logs.backupProgress({
        runId: checkpoint.runId,
        phase: "resumed",
        continuation: checkpoint.continuations,
        attemptRunId: ctx.runId,
      });
      return { checkpoint, progress: consistent(saved.progress) };
    }
    logs.backupProgress({
      runId: checkpoint.runId,
      phase: "abandoned",
      reason: options.fresh
        ? "a fresh run was asked for"
        : done
          ? "it had ended"
          : `continued ${checkpoint.continuations} times without ending`,
    });
    await clearCheckpoint(deps.db, timeout);
  }
  const checkpoint: Checkpoint = {
    runId: ctx.runId,
    trigger: ctx.trigger,
    startedAt: Timestamp.fromDate(ctx.startedAt),
    listingStartedAt,
    continuations: 0,
    resources: [...names],
    endedFailed: false,
    updatedAt: now(ctx),
  };
  await saveCheckpoint(deps.db, checkpoint, timeout);
  return { checkpoint, progress: new Map() };
}

/**
 * A failed run's progress, as a new run's start: its positions, not its work (counts reset). A
 * resource whose removals were held back (a guard, a short listing) is read again from the
 * start: its hold is what the new run must look at afresh.
 */
function startedOver(
  progress: Map<ResourceName, ResourceProgress>,
): Map<ResourceName, ResourceProgress> {
  for (const [name, p] of progress) {
    if (p.holds.length > 0 || p.unverified !== null) {
      progress.set(name, emptyProgress());
      continue;
    }
    Object.assign(p, { missing: 0, changed: 0, written: 0, removed: 0, writeConflicts: 0 });
  }
  return progress;
}

/**
 * A resource whose saved position cannot be resumed (records merged, but no cursor to go on
 * from, and the listing not ended) starts over: listing it again is only slower.
 */
function consistent(
  progress: Map<ResourceName, ResourceProgress>,
): Map<ResourceName, ResourceProgress> {
  for (const [name, p] of progress) {
    if (!p.listed && p.cursor === null && p.lastId !== null) progress.set(name, emptyProgress());
  }
  return progress;
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

/**
 * What becomes of the ended run's checkpoint, once the run is recorded (a crash before keeps it
 * as it was): deleted, or marked as the starting position of the next run.
 */
export async function endCheckpoint(
  deps: BackupDeps,
  runId: string,
  after: "clear" | "seed",
): Promise<void> {
  const timeout = firestoreTimeout(deps);
  const ended =
    after === "clear"
      ? clearCheckpoint(deps.db, timeout)
      : loadCheckpoint(deps.db, timeout).then((saved) =>
          saved?.checkpoint.runId === runId
            ? saveCheckpoint(deps.db, { ...saved.checkpoint, endedFailed: true }, timeout)
            : undefined,
        );
  await ended.catch((error: unknown) => {
    logs.backupProgress({ runId, phase: "checkpoint_kept", reason: String(error) });
  });
}

/**
 * An attempt cut off at its time budget (./run.ts) hands its run over as one that stopped at the
 * budget would: the checkpoint (saved after each chunk) counts one more hand-over. Null when the
 * checkpoint is not this run's (nothing to hand over). Returns the hand-overs before this one.
 */
export async function handOverCutOff(deps: BackupDeps, runId: string): Promise<number | null> {
  const timeout = firestoreTimeout(deps);
  const saved = await loadCheckpoint(deps.db, timeout);
  if (saved === null || saved.checkpoint.runId !== runId) return null;
  const { checkpoint } = saved;
  await saveCheckpoint(
    deps.db,
    { ...checkpoint, continuations: checkpoint.continuations + 1, updatedAt: Timestamp.now() },
    timeout,
  );
  return checkpoint.continuations;
}
