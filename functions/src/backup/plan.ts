import type { BackupConfig } from "../config";
import { perResource, type ResourceName } from "../officernd/resources";
import { emptyResourceStats, type ResourceStats } from "./documents";
import { apiProblem, firestoreProblem, type BackupError } from "./problems";
import type { ResourceRead } from "./read-phase";
import { shrinkage, shrinkGuardTripped, type ResourceDiff } from "./reconcile";
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
 *   no record was rejected, OfficeRnD's `/count` did not show the listing short, and the shrink
 *   guard did not trip. Otherwise its removals are held back and the run fails with the reason.
 */

export interface SyncPlan {
  /** Per resource: the counts of the reads, and notes on what is held back. */
  resources: Record<ResourceName, ResourceStats>;
  problems: BackupError[];
  writes: RecordWrite[];
  /** A read failed: nothing may be written. */
  readFailed: boolean;
}

type PlanConfig = Pick<BackupConfig, "orphanPolicy" | "shrinkGuard">;

export function addNote(stats: ResourceStats, note: string): void {
  stats.error = stats.error === null ? note : `${stats.error}; ${note}`;
}

function pct(share: number): string {
  return `${Math.round(share * 100)}%`;
}

export function planSync(reads: readonly ResourceRead[], config: PlanConfig): SyncPlan {
  const resources = perResource(() => emptyResourceStats());
  const problems: BackupError[] = [];
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
      stats.missing = read.diff.missing.length;
      stats.changed = read.diff.changed.length;
      stats.orphaned = read.diff.orphaned.length;
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
  return { resources, problems, writes, readFailed };
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
  const guarded = shrinkGuardTripped(diff, config.shrinkGuard);
  if (guarded) {
    stats.guarded = true;
    const why =
      diff.api === 0
        ? `OfficeRnD listed no ${resource} while Firestore has ${diff.firestore}`
        : `OfficeRnD listed ${diff.api} ${resource} against ${diff.firestore} in Firestore ` +
          `(shrank ${pct(shrinkage(diff))}, more than the ${pct(config.shrinkGuard)} guard)`;
    holdBack("shrink_guard", `shrink guard: ${why}`, false);
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
