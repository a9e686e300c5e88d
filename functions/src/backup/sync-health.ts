import { RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import type { ResourceStats } from "./documents";

export const SYNC_HEALTH = ["healthy", "out_of_sync"] as const;
export type SyncHealth = (typeof SYNC_HEALTH)[number];

/**
 * `syncHealth` of one run: the one rule behind the status endpoint's `syncHealth` (from the stored
 * metadata, computeSyncHealth in ../status/metrics.ts) and the `backup_summary` log entry's, which the
 * log-based metric of the "a resource is out_of_sync" alert (monitoring/) reads as
 * `jsonPayload.syncHealth.<resource>="out_of_sync"`.
 *
 * - null: the run could not read that resource from OfficeRnD (unknown);
 * - healthy: the run ended in sync, or nothing is known to be wrong with this resource;
 * - out_of_sync: the run did not end in sync and the engine recorded a reason for this resource
 *   (error, shrink guard, unstorable records); when it recorded none for any resource, the
 *   resources where the run found discrepancies (they may not have been repaired).
 */

export interface RunSyncOutcome {
  status: "completed" | "failed" | "continuing";
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

export function runSyncHealth(run: RunSyncOutcome): Record<ResourceName, SyncHealth | null> {
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
