import { logs } from "../logs";
import type { ResourceName } from "../officernd/resources";
import { saveProgress } from "./checkpoint";
import {
  candidateLimit,
  listResource,
  type ListingOutcome,
  type ListingRun,
} from "./listing-phase";
import { combineRanges, rangesFor, splittable } from "./listing-ranges";
import { emptyProgress, MAX_STRAYS, type ResourceProgress } from "./progress";
import { verifyListing } from "./resource-read";
import { firestoreTimeout, type BackupDeps } from "./run-deps";
import { noteSplitFit, planSplit, rememberOneChain } from "./split-plan";
import { TimeBudgetError } from "./time-budget";

/**
 * One type's listing in phase 1 of a full run: one cursor chain (./listing-phase.ts), or, for a
 * big type that accepts a createdAt range and has `/count` (./split-plan.ts), K createdAt ranges
 * read side by side (./listing-ranges.ts), each merged with the documents of its id range, so the
 * listing takes about 1/K of a chain. What stays as safe as one chain:
 * - coverage: every record with a createdAt is in one range, every document in one id range; a
 *   record whose createdAt disagrees with its id time (a stray) is looked up by id, and its
 *   document is no removal candidate once every range is listed (combineRanges);
 * - completeness: OfficeRnD's `/count` after every range is listed, against their sum; short (a
 *   record without createdAt is in no range) or more strays than a run tracks: unverified, so no
 *   removal (./removal-phase.ts), and the type's next listings are one chain (a durable note,
 *   ./split-plan.ts `rememberOneChain`; the run that adopts this one's positions re-reads it);
 * - resumable: each range's position is saved on its own (./checkpoint.ts), the split points with
 *   the type's, so a continuation or a crash resumes every range where it was;
 * - the run's stats: the ranges' counts summed, as one listing would have them.
 * What one chain does not have: a record is in a range by a field, not by its keyset position. A
 * record whose createdAt were edited, during the listing, into a range already read would be in
 * none; /count catches it unless a record listed earlier is removed from OfficeRnD meanwhile
 * (the count then falls by one too). So a split type's orphans are each looked up by id before
 * anything is removed (./removal-phase.ts `stillListed`: one read per orphan); one OfficeRnD
 * still has holds every removal and sends the type to one chain. A document without createdAt
 * is never removed by a split listing (it is in no range).
 */

export async function listType(
  deps: BackupDeps,
  run: ListingRun,
  resource: ResourceName,
  progress: ResourceProgress,
  ranges: Map<ResourceName, ResourceProgress[]>,
): Promise<ListingOutcome> {
  const fresh =
    progress.split === null &&
    !progress.listed &&
    progress.pages === 0 &&
    progress.cursor === null &&
    progress.lastId === null;
  if (fresh && splittable(resource)) {
    const decision = await planSplit(deps, run.runId, resource, run.controller.signal);
    if (decision.points !== null) {
      progress.split = { points: decision.points };
      ranges.set(
        resource,
        decision.points.concat(0).map(() => emptyProgress()),
      );
      // The points first: every attempt of the run must list the same ranges.
      const saved = await saveType(deps, run, resource, progress);
      if (saved !== null) return failedOutcome(resource, saved);
    }
  }
  const split = progress.split;
  if (split === null) {
    const outcome = await listResource(deps, run, resource, progress);
    await noteFit(deps, run, resource, progress);
    return outcome;
  }
  const parts = ranges.get(resource) ?? [];
  const outcomes: ListingOutcome[] = [];
  if (!progress.listed) {
    outcomes.push(
      ...(await Promise.all(
        rangesFor(split.points).map((range) => {
          const part = parts[range.index] ?? emptyProgress();
          parts[range.index] = part;
          return part.listed
            ? Promise.resolve(emptyOutcome(resource))
            : listResource(deps, run, resource, part, range);
        }),
      )),
    );
    const combined = combineRanges(split, parts, candidateLimit(deps.config.maxRemovals));
    // Counts for the run's stats either way; saved (as listed) only once every range is listed.
    Object.assign(progress, combined.progress);
    if (!progress.listed) return mergeOutcomes(resource, outcomes);
    const overflow =
      progress.strayCount > MAX_STRAYS || parts.some((p) => p.strayCount > p.strays.length);
    if (overflow) {
      progress.unverified =
        `${progress.strayCount} records' createdAt disagrees with their id time, more than the ` +
        `${MAX_STRAYS} a split listing tracks; the next run lists ${resource} in one chain`;
    }
    logs.backupProgress({
      runId: run.runId,
      phase: "ranges_listed",
      resource,
      ranges: parts.length,
      api: progress.api,
      strays: progress.strayCount,
      droppedCandidates: combined.droppedStrays,
    });
    const saved = await saveType(deps, run, resource, progress);
    if (saved !== null) return { ...mergeOutcomes(resource, outcomes), firestoreError: saved };
  }
  const outcome = mergeOutcomes(resource, outcomes);
  if (!progress.counted && !outcome.cancelled && outcome.apiError === null) {
    try {
      await countCheck(deps, run, resource, progress, split.points.length + 1);
    } catch (error) {
      if (error instanceof TimeBudgetError) outcome.budgetStop = true;
      else outcome.cancelled = true;
      return outcome;
    }
    const saved = await saveType(deps, run, resource, progress);
    if (saved !== null) outcome.firestoreError ??= saved;
  }
  return outcome;
}

/**
 * A splittable type listed in one chain, completely and verified: whether it may be split next
 * time (./split-plan.ts noteSplitFit, best effort).
 */
async function noteFit(
  deps: BackupDeps,
  run: ListingRun,
  resource: ResourceName,
  progress: ResourceProgress,
): Promise<void> {
  const complete = progress.listed && progress.counted && progress.unverified === null;
  if (!splittable(resource) || deps.config.listingRanges <= 1 || !complete) return;
  // Not once the run is failing (another listing's Firestore or OfficeRnD failure aborted it):
  // a write to a Firestore that stopped answering would add a deadline to the run's end.
  if (!run.mayWrite() || run.controller.signal.aborted) return;
  await noteSplitFit(deps, run.runId, resource, progress);
}

/** OfficeRnD's `/count` against the sum of the ranges; short: one chain next time. */
async function countCheck(
  deps: BackupDeps,
  run: ListingRun,
  resource: ResourceName,
  progress: ResourceProgress,
  k: number,
): Promise<void> {
  const short = await verifyListing(
    deps,
    resource,
    progress.api + progress.rejected,
    run.controller.signal,
  );
  // A short sum says the split does not fit this type's records (or too many strays did, above):
  // one chain next time. A /count that could not be read says nothing about them (still held).
  const misfit = short !== null && /\/count says/.test(short);
  if (short !== null && progress.unverified === null) {
    progress.unverified = misfit
      ? `${short} (as ${k} createdAt ranges: records without createdAt are in none); ` +
        `the next run lists ${resource} in one chain`
      : short;
  }
  progress.counted = true;
  const reason = progress.unverified;
  if (reason !== null && (misfit || short === null) && run.mayWrite()) {
    await rememberOneChain(deps, run.runId, resource, reason);
  }
}

/** Saves the type's own position (its split points, and once listed its totals). */
async function saveType(
  deps: BackupDeps,
  run: ListingRun,
  resource: ResourceName,
  progress: ResourceProgress,
): Promise<unknown> {
  if (!run.mayWrite()) return null;
  return saveProgress(deps.db, run.runId, resource, progress, firestoreTimeout(deps)).then(
    () => null,
    (error: unknown) => error ?? new Error("could not save the listing's position"),
  );
}

function emptyOutcome(resource: ResourceName): ListingOutcome {
  return {
    resource,
    apiError: null,
    firestoreError: null,
    cancelled: false,
    budgetStop: false,
    stream: { failed: null, failedCount: 0, stoppedBy: null, notAttempted: 0 },
  };
}

function failedOutcome(resource: ResourceName, error: unknown): ListingOutcome {
  return { ...emptyOutcome(resource), firestoreError: error };
}

/** The ranges' outcomes as one listing's: the first failure of each kind, counts summed. */
function mergeOutcomes(
  resource: ResourceName,
  outcomes: readonly ListingOutcome[],
): ListingOutcome {
  const out = emptyOutcome(resource);
  for (const o of outcomes) {
    out.apiError ??= o.apiError;
    out.firestoreError ??= o.firestoreError;
    out.cancelled ||= o.cancelled;
    out.budgetStop ||= o.budgetStop;
    out.stream = {
      failed: out.stream.failed ?? o.stream.failed,
      failedCount: out.stream.failedCount + o.stream.failedCount,
      stoppedBy: out.stream.stoppedBy ?? o.stream.stoppedBy,
      notAttempted: out.stream.notAttempted + o.stream.notAttempted,
    };
  }
  return out;
}
