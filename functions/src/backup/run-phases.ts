import { logs } from "../logs";
import type { BackupTrigger, RunMode } from "./documents";
import type { ObservedFields } from "./field-observer";
import { runFullBackup } from "./full-run";
import { endCheckpoint } from "./run-resume";
import type { LeaseHeartbeat } from "./lock";
import type { SyncPlan } from "./plan";
import {
  internalProblem,
  lockLostProblem,
  LockLostError,
  timeBudgetProblem,
  type BackupError,
} from "./problems";
import { readAndPlan, type PlannedRun } from "./read-and-plan";
import { firestoreTimeout, type BackupDeps } from "./run-deps";
import type { RunOutcome } from "./run-result";
import { readRunState, recordRunState, type RunState } from "./run-state";
import { syncPlan, type SyncResult } from "./sync-phase";
import type { TimeBudget } from "./time-budget";

/**
 * The phases of a run under its lease, by mode (./run.ts takes the lease, keeps the budget and
 * builds the result):
 * - full: streamed and resumable (./full-run.ts: listing with writes as pages arrive → removals →
 *   conflicts), continuing in another attempt when the budget runs out;
 * - incremental: read the changed records (./read-and-plan.ts) → plan → sync (./sync-phase.ts).
 * Both then carry over what the next run needs (high-water marks, field sets: ./run-state.ts),
 * once the run has ended. Never throw: an unexpected error is the run's `internal` problem.
 */

export interface PhaseRun {
  runId: string;
  trigger: BackupTrigger;
  mode: RunMode;
  startedAt: Date;
  now: () => Date;
  /** Abandon an unfinished full run's checkpoint instead of going on with it. */
  fresh: boolean;
}

/** What a run has done so far, for a result built without waiting for its phases. */
export interface Progress {
  plan: SyncPlan | null;
  /** Documents written by the chunks flushed so far. */
  written: number;
  /** A full run's checkpoint exists (its hand-overs so far); null before it does. */
  continuations: number | null;
}

export interface PhaseContext {
  lease: LeaseHeartbeat;
  budget: TimeBudget;
  progress: Progress;
  observed: ObservedFields;
  /** Aborted when the run is cut off (./run.ts): the phases then write nothing more. */
  halt: AbortSignal;
}

/** The phases were cut off at the time budget (./run.ts records without them). */
export class CutOffError extends Error {
  constructor() {
    super("the run was cut off at its time budget");
    this.name = "CutOffError";
  }
}

/** What the phases found and did, for ./run.ts to build the result from. */
export interface PhaseOutcome {
  problems: BackupError[];
  outcome: Omit<Partial<RunOutcome>, "problems" | "finishedAt" | "durationMs" | "api">;
  /** After the run is recorded (a full run that ended deletes its checkpoint then). */
  afterRecord?: () => Promise<void>;
}

export async function runPhases(
  run: PhaseRun,
  deps: BackupDeps,
  context: PhaseContext,
): Promise<PhaseOutcome> {
  try {
    return run.mode === "full"
      ? await runFull(run, deps, context)
      : await runIncremental(run, deps, context);
  } catch (error) {
    const plan = context.progress.plan;
    return {
      problems: [...(plan?.problems ?? []), internalProblem("backup failed unexpectedly", error)],
      outcome: { resources: plan?.resources },
    };
  }
}

async function runFull(
  run: PhaseRun,
  deps: BackupDeps,
  context: PhaseContext,
): Promise<PhaseOutcome> {
  const state = await readRunState(deps.db, firestoreTimeout(deps)).catch(() => null);
  let chunks = 0;
  const mayWrite = () => !context.lease.lost && !context.halt.aborted;
  const full = await runFullBackup(
    deps,
    run,
    context.budget,
    {
      assertLease: () => {
        if (context.halt.aborted) throw new CutOffError();
        if (context.lease.lost) throw new LockLostError(run.runId);
      },
      mayWrite,
      // A resumed run takes on the identity of the run it goes on with, as soon as it is known.
      onRun: ({ continuations, ...identity }) => {
        Object.assign(run, identity);
        context.progress.continuations = continuations;
      },
      // Chunks numbered across the run's resources, as the hooks and the progress log see them.
      afterChunk: async (written) => {
        context.progress.written += written;
        chunks += 1;
        const chunk = {
          chunk: chunks,
          chunks,
          done: chunks,
          total: chunks,
          written: context.progress.written,
        };
        logs.backupProgress({ runId: run.runId, phase: "sync", ...chunk });
        await deps.hooks?.afterWriteChunk?.(chunk);
      },
    },
    { fresh: run.fresh },
  );
  const { resources, continuing, continuations, written, conflicts } = full;
  const plan: SyncPlan = {
    resources,
    problems: full.problems,
    writes: [],
    readFailed: false,
    deferred: {},
  };
  const carried =
    continuing || state === null || !mayWrite()
      ? { schemaDrift: {}, problems: [] }
      : await carryOver(run, deps, { plan, coverage: null, state }, full.observed, full.problems);
  return {
    problems: [...full.problems, ...carried.problems],
    outcome: {
      resources,
      written,
      conflicts,
      continuing,
      continuations,
      schemaDrift: carried.schemaDrift,
    },
    afterRecord: afterRecordOf(deps, full.runId, full.checkpointAfter),
  };
}

/** What becomes of a full run's checkpoint once the run is recorded. */
function afterRecordOf(
  deps: BackupDeps,
  runId: string,
  after: "clear" | "seed" | "keep",
): PhaseOutcome["afterRecord"] {
  return after === "keep" ? undefined : () => endCheckpoint(deps, runId, after);
}

async function runIncremental(
  run: PhaseRun,
  deps: BackupDeps,
  context: PhaseContext,
): Promise<PhaseOutcome> {
  const { lease, budget, progress } = context;
  const planned = await readAndPlan(deps, run);
  const plan = planned.plan;
  progress.plan = plan;
  const synced = await syncUnlessStopped(run, deps, lease, budget, plan);
  const problems = [...plan.problems, ...synced.problems];
  if (budget.stopped && !problems.some((p) => p.code === "time_budget")) {
    problems.push(timeBudgetProblem(budget.budgetMs ?? 0, "syncing"));
  }
  const carried = await carryOver(run, deps, planned, context.observed, problems);
  return {
    problems: [...problems, ...carried.problems],
    outcome: {
      resources: plan.resources,
      written: synced.written,
      conflicts: synced.conflicts,
      coverage: planned.coverage,
      schemaDrift: carried.schemaDrift,
    },
  };
}

/** What the next run needs (high-water marks, field sets); nothing when they were unreadable. */
async function carryOver(
  run: PhaseRun,
  deps: BackupDeps,
  planned: PlannedRun & { state: RunState | null },
  observed: ObservedFields,
  problems: readonly BackupError[],
): Promise<Awaited<ReturnType<typeof recordRunState>>> {
  if (planned.state === null) return { schemaDrift: {}, problems: [] };
  const { runId, mode, startedAt } = run;
  const at = { runId, mode, startedAt, now: run.now(), timeoutMs: firestoreTimeout(deps) };
  return recordRunState(deps.db, at, { ...planned, previous: planned.state, observed, problems });
}

/** The sync, unless the run may no longer write: its lease is lost or its budget spent. */
function syncUnlessStopped(
  run: PhaseRun,
  deps: BackupDeps,
  lease: LeaseHeartbeat,
  budget: TimeBudget,
  plan: SyncPlan,
): Promise<SyncResult> {
  const nothing = (problem: BackupError) =>
    Promise.resolve({ written: 0, conflicts: 0, problems: [problem] });
  if (plan.writes.length > 0 && !plan.readFailed) {
    if (lease.lost) return nothing(lockLostProblem(run.runId));
    if (budget.spent) {
      budget.stopped = true;
      return nothing(timeBudgetProblem(budget.budgetMs ?? 0, "before syncing"));
    }
  }
  return syncPlan(deps, { runId: run.runId, now: run.now, lease }, plan);
}
