import type { BackupConfig } from "../config";
import { perResource, type ResourceName } from "../officernd/resources";
import { emptyResourceStats, type ResourceStats } from "./documents";
import { apiProblem, firestoreProblem, type BackupError } from "./problems";
import type { ResourceRead } from "./resource-read";
import type { ResourceDiff } from "./reconcile";
import type { RecordWrite } from "../mirror/bulk-writes";

/**
 * Phase 2 of a run, plan: from what the reads found, the writes to make and why any are held
 * back. Pure (no I/O, no clock): the rules of the backup live here and are tested on their own.
 *
 * - Any read failure (OfficeRnD after its retries, a cancelled read, Firestore): nothing is
 *   written at all; the data already in Firestore stays as it is.
 * - Missing and changed records are created or replaced (each write conditional on the version
 *   the read saw, so a webhook in between wins).
 * - Orphans are marked removed (or deleted) only when the resource's listing is trustworthy:
 *   no record was rejected, OfficeRnD's `/count` did not show the listing short, and the removal
 *   guard did not trip. Otherwise its removals are held back and the run fails with the reason.
 * - Differences a webhook may have caused (./reconcile.ts DeferredDifference) are left alone and
 *   counted as conflicts: the run is not in sync, and the next run compares them again.
 * - Records whose fields drifted from our schema are stored as sent, with a warning.
 */

export interface SyncPlan {
  /** Per resource: the counts of the reads, and notes on what is held back. */
  resources: Record<ResourceName, ResourceStats>;
  problems: BackupError[];
  writes: RecordWrite[];
  /** A read failed: nothing may be written. */
  readFailed: boolean;
  /** Per resource read completely: the ids left alone this run (compared again next run). */
  deferred: Partial<Record<ResourceName, string[]>>;
}

type PlanConfig = Pick<BackupConfig, "orphanPolicy" | "shrinkGuard" | "maxRemovals">;

/**
 * Why this run must not remove the resource's orphaned documents, or null. OfficeRnD listing
 * nothing while Firestore has documents; removing more than `shrinkGuard` of the documents a run
 * may remove (live ones, and with the delete policy the marked ones too); or more than
 * `maxRemovals` at once. A listing cut short, or many records replaced upstream in one day, is
 * then held back for a person to look at instead of removed.
 */
export function removalGuard(diff: ResourceDiff, config: PlanConfig): string | null {
  return guardRemovals({ ...diff, removals: diff.orphaned.length }, config);
}

/** The counts the removal guard judges: what a run would remove, against what it read. */
export interface RemovalCounts {
  resource: ResourceName;
  removals: number;
  /** Records OfficeRnD listed. */
  api: number;
  /** Documents not marked removed, and marked removed. */
  firestore: number;
  firestoreRemoved: number;
}

/** removalGuard on counts (the full run's streamed listing keeps counts, not a diff). */
export function guardRemovals(counts: RemovalCounts, config: PlanConfig): string | null {
  const { resource, removals } = counts;
  if (removals === 0) return null;
  if (counts.api === 0 && counts.firestore > 0) {
    return `OfficeRnD listed no ${resource} while Firestore has ${counts.firestore}`;
  }
  const base = counts.firestore + (config.orphanPolicy === "delete" ? counts.firestoreRemoved : 0);
  const share = base === 0 ? 0 : removals / base;
  if (share > config.shrinkGuard) {
    return (
      `this run would remove ${removals} of ${base} ${resource} documents (${pct(share)}, ` +
      `more than the ${pct(config.shrinkGuard)} BACKUP_SHRINK_GUARD allows)`
    );
  }
  if (removals > config.maxRemovals) {
    return `this run would remove ${removals} ${resource} documents, more than the ${config.maxRemovals} BACKUP_MAX_REMOVALS allows`;
  }
  return null;
}

/** Records stored as sent that differ from our schema: worth knowing, never a failure. */
export function driftWarning(
  resource: ResourceName,
  drifted: number,
  examples: readonly string[],
): string {
  return (
    `${resource}: ${drifted} record(s) differ from the expected schema and were stored as ` +
    `OfficeRnD sent them (e.g. ${examples.join(", ")})`
  );
}

export function addNote(stats: ResourceStats, note: string): void {
  stats.error = stats.error === null ? note : `${stats.error}; ${note}`;
}

function pct(share: number): string {
  return `${Math.round(share * 100)}%`;
}

export function planSync(reads: readonly ResourceRead[], config: PlanConfig): SyncPlan {
  const resources = perResource(() => emptyResourceStats());
  const problems: BackupError[] = [];
  const deferred: SyncPlan["deferred"] = {};
  let readFailed = false;
  for (const read of reads) {
    const stats = resources[read.resource];
    stats.firestore = read.index?.live ?? 0;
    stats.rejected = read.rejected;
    if (read.indexError !== null) {
      readFailed = true;
      const p = firestoreProblem(
        "firestore_read",
        `${read.resource}: Firestore read failed`,
        read.indexError,
        read.resource,
      );
      problems.push(p);
      addNote(stats, p.message);
    }
    if (read.apiError !== null) {
      readFailed = true;
      const p = apiProblem(read.resource, read.apiError);
      problems.push(p);
      addNote(stats, p.message);
    } else if (read.cancelled) {
      readFailed = true;
      addNote(stats, `${read.resource}: not read completely (the run failed elsewhere)`);
    } else {
      stats.api = read.received;
    }
    if (read.diff !== null) {
      const { diff } = read;
      stats.missing = diff.missing.length;
      stats.changed = diff.changed.length;
      stats.orphaned = diff.orphaned.length;
      stats.conflicts = diff.deferred.length;
      deferred[read.resource] = diff.deferred.map((d) => d.id);
      if (diff.drifted > 0) {
        stats.drifted = diff.drifted;
        stats.warning = driftWarning(read.resource, diff.drifted, diff.driftExamples);
      }
    }
  }
  const writes: RecordWrite[] = [];
  if (!readFailed) {
    for (const read of reads) {
      if (read.diff === null) continue;
      writes.push(
        ...planResource(read.diff, read.unverified, resources[read.resource], config, problems),
      );
    }
  }
  return { resources, problems, writes, readFailed, deferred };
}

/** One resource's writes: creates and replaces always; removals only when trustworthy. */
function planResource(
  diff: ResourceDiff,
  unverified: string | null,
  stats: ResourceStats,
  config: PlanConfig,
  problems: BackupError[],
): RecordWrite[] {
  const { resource } = diff;
  const writes: RecordWrite[] = [];
  for (const { record, existing } of [...diff.missing, ...diff.changed]) {
    writes.push(
      existing === null
        ? { op: "create", resource, record }
        : { op: "replace", resource, record, base: existing },
    );
  }
  const holdBack = (code: BackupError["code"], why: string, retryable: boolean) => {
    const message = `${resource}: ${why}; ${diff.orphaned.length} removal(s) held back`;
    addNote(stats, message);
    problems.push({ code, message, retryable, resource });
  };
  const guard = removalGuard(diff, config);
  const guarded = guard !== null;
  if (guard !== null) {
    stats.guarded = true;
    holdBack("shrink_guard", `removal guard: ${guard}`, false);
  }
  if (diff.rejected > 0) {
    holdBack(
      "invalid_records",
      `${diff.rejected} record(s) failed validation and were not stored`,
      false,
    );
  }
  if (unverified !== null) holdBack("incomplete_listing", unverified, true);
  if (guarded || diff.rejected > 0 || unverified !== null) return writes;
  for (const { id, existing } of diff.orphaned) {
    writes.push(
      config.orphanPolicy === "delete"
        ? { op: "delete", resource, id, base: existing }
        : { op: "markRemoved", resource, id, base: existing },
    );
  }
  return writes;
}
