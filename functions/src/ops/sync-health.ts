import type { ResourceStats } from "../backup/documents";
import { RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import type { SyncHealth } from "../status/schema";

/**
 * `syncHealth` of one run, for the `backup_summary` log entry, so that the log-based metric behind
 * the "a resource is out_of_sync" alert (monitoring/) can read it as
 * `jsonPayload.syncHealth.<resource>="out_of_sync"`.
 *
 * The rule is the status endpoint's (computeSyncHealth in ../status/metrics.ts, which takes a
 * stored metadata document); this one takes the run's outcome, which is what the log entry is
 * written from. test/ops/sync-health.test.ts holds the two to the same answers.
 */

export interface RunOutcome {
  status: "completed" | "failed";
  inSync: boolean;
  resources: Record<ResourceName, ResourceStats>;
}

/** The engine recorded why this resource is not in sync after the run. */
function flagged(stats: ResourceStats): boolean {
  return stats.error !== null || stats.guarded || stats.unstorable > 0;
}

function discrepancies(stats: ResourceStats): number {
  return stats.missing + stats.changed + stats.orphaned;
}

export function runSyncHealth(run: RunOutcome): Record<ResourceName, SyncHealth | null> {
  const endedInSync = run.status === "completed" && run.inSync;
  const anyFlagged = RESOURCE_NAMES.some((n) => flagged(run.resources[n]));
  const health = (name: ResourceName): SyncHealth | null => {
    const stats = run.resources[name];
    if (stats.api === null) return null;
    if (endedInSync) return "healthy";
    if (flagged(stats)) return "out_of_sync";
    return !anyFlagged && discrepancies(stats) > 0 ? "out_of_sync" : "healthy";
  };
  return Object.fromEntries(RESOURCE_NAMES.map((n) => [n, health(n)])) as Record<
    ResourceName,
    SyncHealth | null
  >;
}
