import type { ResourceName } from "../officernd/resources";
import { emptyResourceStats, type ResourceStats } from "./documents";
import type { ListingOutcome } from "./listing-phase";
import { addNote, driftWarning } from "./plan";
import {
  apiProblem,
  describeError,
  firestoreProblem,
  LockLostError,
  type BackupError,
} from "./problems";
import type { ResourceProgress } from "./progress";

/**
 * What a full run found and did, per resource, from its progress (./progress.ts) and how its
 * listing ended (./listing-phase.ts): the stats of the run's result and its problems. Pure.
 */

export function progressStats(resource: ResourceName, progress: ResourceProgress): ResourceStats {
  const stats = emptyResourceStats();
  stats.firestore = progress.firestore;
  stats.api = progress.listed ? progress.api : null;
  stats.missing = progress.missing;
  stats.changed = progress.changed;
  stats.orphaned = progress.orphaned;
  stats.written = progress.written;
  stats.removed = progress.removed;
  stats.rejected = progress.rejected;
  stats.unstorable = progress.unstorable;
  stats.conflicts = progress.deferred + progress.writeConflicts;
  stats.guarded = progress.holds.some((h) => h.code === "shrink_guard");
  if (progress.drifted > 0) {
    stats.drifted = progress.drifted;
    stats.warning = driftWarning(resource, progress.drifted, progress.driftExamples);
  }
  return stats;
}

/** The problems of one resource, with notes added to its stats. */
export function resourceProblems(
  resource: ResourceName,
  progress: ResourceProgress,
  listing: ListingOutcome | null,
  stats: ResourceStats,
): BackupError[] {
  const problems: BackupError[] = [];
  const add = (problem: BackupError) => {
    problems.push(problem);
    addNote(stats, problem.message);
  };
  if (listing?.firestoreError != null) {
    add(
      firestoreProblem(
        "firestore_read",
        `${resource}: Firestore read failed`,
        listing.firestoreError,
        resource,
      ),
    );
  }
  if (listing?.apiError != null) add(apiProblem(resource, listing.apiError));
  if (listing?.cancelled) {
    addNote(stats, `${resource}: not read completely (the run failed elsewhere)`);
  }
  for (const hold of progress.holds) {
    if (hold.code === "shrink_guard" || hold.code === "invalid_records") {
      add({ code: hold.code, message: hold.message, retryable: false, resource });
    } else add({ code: hold.code, message: hold.message, retryable: true, resource });
  }
  if (progress.unstorable > 0) {
    add({
      code: "unstorable_record",
      message:
        `${resource}: ${progress.unstorable} record(s) Firestore cannot store were not written: ` +
        progress.unstorableExamples.join(", "),
      retryable: false,
      resource,
    });
  }
  const stream = listing?.stream;
  if (stream?.failed) {
    const first = stream.failed;
    add({
      code: "firestore_write",
      message:
        `${stream.failedCount} write(s) failed (first: ${resource} ${first.id}: ${first.reason}); ` +
        `${stream.notAttempted} not attempted`,
      retryable: true,
      resource,
    });
  } else if (stream?.stoppedBy instanceof LockLostError) {
    add({ code: "lock_lost", message: stream.stoppedBy.message, retryable: false, resource: null });
  } else if (stream?.stoppedBy != null) {
    add({
      code: "firestore_write",
      message: `${resource}: sync stopped, ${stream.notAttempted} write(s) not attempted: ${describeError(stream.stoppedBy)}`,
      retryable: true,
      resource,
    });
  }
  return problems;
}
