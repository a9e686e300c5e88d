import { perResource, type ResourceName } from "../officernd/resources";
import { emptyResourceStats, type IncrementalCoverage } from "./documents";
import { planIncremental, readChangedResources } from "./incremental-read";
import type { SyncPlan } from "./plan";
import { firestoreProblem } from "./problems";
import { firestoreTimeout, type BackupDeps } from "./run-deps";
import { readRunState, type RunState } from "./run-state";

/**
 * Phases 1 and 2 of an incremental run: read the records modified since each type's high-water
 * mark (./incremental-read.ts) and plan by the backup's rules (./plan.ts), without removals, from
 * what the previous run left for the next (./run-state.ts). (A full run streams instead:
 * ./full-run.ts.)
 */

export interface PlannedRun {
  plan: SyncPlan;
  /** Incremental runs: how each selected type was read; null for full runs. */
  coverage: Partial<Record<ResourceName, IncrementalCoverage>> | null;
  /** The high-water marks and field sets as the run found them; null when unreadable. */
  state: RunState | null;
}

export async function readAndPlan(deps: BackupDeps, run: { runId: string }): Promise<PlannedRun> {
  let state: RunState | null = null;
  let stateError: unknown = null;
  try {
    state = await readRunState(deps.db, firestoreTimeout(deps));
  } catch (error) {
    stateError = error;
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
