import { perResource, type ResourceName } from "../officernd/resources";
import { emptyResourceStats, type IncrementalCoverage, type RunMode } from "./documents";
import { planIncremental, readChangedResources } from "./incremental-read";
import { planSync, type SyncPlan } from "./plan";
import { firestoreProblem } from "./problems";
import { readAllResources } from "./read-phase";
import { firestoreTimeout, type BackupDeps } from "./run-deps";
import { readRunState, type RunState } from "./run-state";

/**
 * Phases 1 and 2 of a run by its mode: a full run reads every record (./read-phase.ts) and plans
 * by the backup's rules (./plan.ts); an incremental run reads the records modified since each
 * type's high-water mark (./incremental-read.ts) and plans the same way, without removals. Both
 * start from what the previous run left for the next (./run-state.ts).
 */

export interface PlannedRun {
  plan: SyncPlan;
  /** Incremental runs: how each selected type was read; null for full runs. */
  coverage: Partial<Record<ResourceName, IncrementalCoverage>> | null;
  /** The high-water marks and field sets as the run found them; null when unreadable. */
  state: RunState | null;
}

export async function readAndPlan(
  deps: BackupDeps,
  run: { runId: string; mode: RunMode },
): Promise<PlannedRun> {
  let state: RunState | null = null;
  let stateError: unknown = null;
  try {
    state = await readRunState(deps.db, firestoreTimeout(deps));
  } catch (error) {
    stateError = error;
  }
  if (run.mode === "full") {
    // Without them a full run still runs: it tells no drift and moves no high-water mark.
    const reads = await readAllResources(deps, run.runId);
    return { plan: planSync(reads, deps.config), coverage: null, state };
  }
  if (state === null) return { plan: unreadableState(stateError), coverage: null, state };
  const { reads, coverage } = await readChangedResources(deps, run.runId, state.highWaterMarks);
  return { plan: planIncremental(reads, deps.config), coverage, state };
}

function unreadableState(error: unknown): SyncPlan {
  const what = "could not read the high-water marks (/officeRndMetadata/incremental-state)";
  return {
    resources: perResource(() => emptyResourceStats()),
    problems: [firestoreProblem("firestore_read", what, error)],
    writes: [],
    readFailed: true,
    deferred: {},
  };
}
