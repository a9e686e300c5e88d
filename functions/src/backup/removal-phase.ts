import { logs } from "../logs";
import type { ResourceName } from "../officernd/resources";
import { writeId, type RecordWrite } from "../mirror/bulk-writes";
import { within } from "../mirror/deadline";
import { recordRef } from "../mirror/record-document";
import { storedEntry } from "./firestore-index";
import { createdAtSecond } from "./listing-ranges";
import { plural, rememberOneChain } from "./split-plan";
import { guardRemovals } from "./plan";
import { keepId, type RemovalHold, type ResourceProgress } from "./progress";
import { firestoreTimeout, type BackupDeps } from "./run-deps";
import { TimeBudgetError } from "./time-budget";
import type { WriteStream } from "./write-stream";

/**
 * Phase 2 of a full run, removals: once a resource's listing is complete, the documents OfficeRnD
 * did not list (the merge's candidates) are re-read, so each removal is conditional on the
 * version seen now, and judged:
 * - gone meanwhile, or already marked removed under the `mark` policy: nothing to do;
 * - written after the listing began (a record created or changed mid-run; a webhook) and not a
 *   conflict the previous run found too: left alone, counted as a conflict;
 * - otherwise an orphan: marked removed (or deleted), unless the removal guard (./plan.ts), a
 *   rejected record or OfficeRnD's `/count` says the listing cannot be trusted: then every removal
 *   of the resource is held back and the run fails with the reason.
 */

/** Documents per getAll while re-reading the candidates. */
const REREAD_BATCH = 100;

export interface RemovalRun {
  listingStartedAt: number;
  previousConflicts: ReadonlyMap<ResourceName, ReadonlySet<string>>;
  runId: string;
}

export async function settleRemovals(
  deps: BackupDeps,
  run: RemovalRun,
  resource: ResourceName,
  progress: ResourceProgress,
  stream: WriteStream,
): Promise<void> {
  if (progress.settled || !progress.listed) return;
  const repairs = run.previousConflicts.get(resource);
  const policy = deps.config.orphanPolicy;
  const orphans: RecordWrite[] = [];
  const unchecked = Math.max(0, progress.candidates - progress.candidateIds.length);
  let undated = 0;
  for (let i = 0; i < progress.candidateIds.length; i += REREAD_BATCH) {
    const refs = progress.candidateIds
      .slice(i, i + REREAD_BATCH)
      .map((id) => recordRef(deps.db, resource, id));
    const snapshots = await within(deps.db.getAll(...refs), firestoreTimeout(deps));
    for (const snapshot of snapshots) {
      const base = storedEntry(resource, snapshot);
      if (base === null) continue;
      if (base.removed && policy === "mark") continue;
      const id = snapshot.id;
      if (base.updateTime.toMillis() > run.listingStartedAt && !(repairs?.has(id) ?? false)) {
        progress.deferred += 1;
        keepId(progress.deferredIds, id);
        continue;
      }
      // A split listing cannot tell a record without createdAt is gone: it is in no range, and
      // /count can match anyway (a record removed after its range listed it makes up for it).
      // Counted as not listed (so a short /count holds the removals as before), never removed
      // here, and left to a one-chain listing (the next run's: below).
      if (progress.split !== null && createdAtSecond(snapshot.get("createdAt")) === null) {
        undated += 1;
        continue;
      }
      orphans.push(
        policy === "delete"
          ? { op: "delete", resource, id, base }
          : { op: "markRemoved", resource, id, base },
      );
    }
  }
  if (undated > 0) {
    logs.backupProgress({
      runId: run.runId,
      phase: "undated_not_removed",
      resource,
      count: undated,
      reason: "not listed by a split listing, and without createdAt: left to a one-chain listing",
    });
    const why = `${plural(undated, "document")} without createdAt not listed by the ranges`;
    await rememberOneChain(deps, run.runId, resource, why);
  }
  progress.orphaned = orphans.length + unchecked + undated;
  progress.holds = removalHolds(deps, resource, progress, unchecked);
  if (progress.split !== null && progress.holds.length === 0 && orphans.length > 0) {
    const missed = await stillListed(deps, resource, orphans);
    if (missed !== null) {
      progress.unverified = missed;
      progress.holds = removalHolds(deps, resource, progress, unchecked);
      await rememberOneChain(deps, run.runId, resource, missed);
    }
  }
  if (progress.holds.length === 0 && orphans.length > 0) {
    await stream.add(orphans);
    await stream.flush();
  }
  progress.settled = true;
  if (progress.orphaned > 0) {
    logs.backupProgress({
      runId: run.runId,
      phase: progress.holds.length === 0 ? "removed" : "removals_held_back",
      resource,
      orphaned: progress.orphaned,
      removed: progress.removed,
    });
  }
}

/**
 * A split listing's orphans, each looked up in OfficeRnD by id before it is removed: a record
 * the ranges did not list yet OfficeRnD still has (its createdAt edited into a range already
 * read, while another removal kept /count equal) must not be removed. One read per orphan, only
 * for split types. Null when OfficeRnD has none of them; else why the removals wait (a lookup
 * that fails counts as not shown gone).
 */
async function stillListed(
  deps: BackupDeps,
  resource: ResourceName,
  orphans: readonly RecordWrite[],
): Promise<string | null> {
  const exists = deps.reader.exists?.bind(deps.reader);
  if (exists === undefined) {
    return `${resource}: the reader cannot look records up by id, so a split listing's orphans cannot be confirmed`;
  }
  const answers = await Promise.all(
    orphans.map((write) =>
      exists(resource, writeId(write)).catch((error: unknown) => {
        // The budget stopping the run is not an answer: the next attempt decides again.
        if (error instanceof TimeBudgetError) throw error;
        return null;
      }),
    ),
  );
  const listed = answers.filter((a) => a === true).length;
  const unknown = answers.filter((a) => a === null).length;
  if (listed === 0 && unknown === 0) return null;
  return (
    `${listed} of the ${orphans.length} documents the createdAt ranges did not list are still in ` +
    `OfficeRnD${unknown > 0 ? ` (${unknown} could not be looked up)` : ""}; ` +
    `the next run lists ${resource} in one chain`
  );
}

/** Why this resource's removals must wait (empty: they may go ahead). */
function removalHolds(
  deps: BackupDeps,
  resource: ResourceName,
  progress: ResourceProgress,
  unchecked: number,
): RemovalHold[] {
  const holds: RemovalHold[] = [];
  const removals = progress.orphaned;
  if (removals === 0) return holds;
  const held = (why: string) => `${resource}: ${why}; ${removals} removal(s) held back`;
  const guard = guardRemovals(
    {
      resource,
      removals,
      api: progress.api,
      firestore: progress.firestore,
      firestoreRemoved: progress.firestoreRemoved,
    },
    deps.config,
  );
  if (guard !== null)
    holds.push({ code: "shrink_guard", message: held(`removal guard: ${guard}`) });
  else if (unchecked > 0) {
    holds.push({
      code: "shrink_guard",
      message: held(
        `${progress.candidates} documents were not listed, more than the ${progress.candidateIds.length} one run checks`,
      ),
    });
  }
  if (progress.rejected > 0) {
    holds.push({
      code: "invalid_records",
      message: held(`${progress.rejected} record(s) failed validation and were not stored`),
    });
  }
  if (progress.unverified !== null) {
    holds.push({ code: "incomplete_listing", message: held(progress.unverified) });
  }
  return holds;
}
