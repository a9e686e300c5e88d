import { performance } from "node:perf_hooks";
import { logs } from "../logs";
import type { ResourceName } from "../officernd/resources";
import { CHECKPOINT_EVERY_MS, saveProgress, saveRangeProgress } from "./checkpoint";
import { FirestoreCursor } from "./firestore-cursor";
import type { ListingRange } from "./listing-ranges";
import { ResourceMerge } from "./merge";
import { MAX_KEPT_IDS, type ResourceProgress } from "./progress";
import { verifyListing } from "./resource-read";
import { CLOCK_MARGIN_MS, DuplicateRecordError } from "./reconcile";
import { firestoreTimeout, type BackupDeps } from "./run-deps";
import { TimeBudgetError, type TimeBudget } from "./time-budget";
import { WriteStream } from "./write-stream";

/**
 * Phase 1 of a full run, listing (the read and the sync of creates and updates at once): for each
 * resource, OfficeRnD's pages merged with the mirrored collection (./merge.ts) and the
 * differences written while later pages are read (./write-stream.ts). Memory is a page and a
 * chunk per resource, whatever the size of the organization. Removals are not made here: they
 * wait for a complete, verified listing (./removal-phase.ts).
 *
 * Failure semantics: a failed read (OfficeRnD after its retries, a duplicate id, Firestore) stops
 * this resource's listing and cancels the others; the creates and updates already written stay
 * (each is OfficeRnD's data as read, written only over the version read), and nothing is
 * removed. The time budget stops the listing at a page boundary: the pages read are written and
 * the position saved (./checkpoint.ts), for a continuation.
 */

export interface ListingRun {
  runId: string;
  now: () => Date;
  budget: TimeBudget;
  /** Aborted by the first failure, so the other listings stop too. */
  controller: AbortController;
  /** When the listings began, on Firestore's clock (ms). */
  listingStartedAt: number;
  previousConflicts: ReadonlyMap<ResourceName, ReadonlySet<string>>;
  /** Throws when the run may no longer write (its lease was lost, or the run was cut off). */
  assertLease: () => void;
  /** The run may still write: its checkpoint too (false once the lease is lost or cut off). */
  mayWrite: () => boolean;
  /** After each chunk of writes, with the documents it wrote. */
  afterChunk?: (written: number) => void | Promise<void>;
}

export interface ListingOutcome {
  resource: ResourceName;
  apiError: unknown;
  firestoreError: unknown;
  /** Stopped because another part of the run failed. */
  cancelled: boolean;
  /** Stopped at the time budget, position saved. */
  budgetStop: boolean;
  /** The write stream stopped: a refused write, the lease lost, a stalled chunk. */
  stream: Pick<WriteStream, "failed" | "failedCount" | "stoppedBy" | "notAttempted">;
}

/** The Firestore side of the merge failed (not OfficeRnD). */
class FirestoreSideError extends Error {
  constructor(readonly error: unknown) {
    super("Firestore read failed");
  }
}

const PROGRESS_EVERY_PAGES = 20;
/** Read-limiter priorities (0 first): a whole cursor chain, a range of a split type. */
const CHAIN_PRIORITY = 4;
const RANGE_PRIORITY = 6;
/** Chunks of writes between two saves of the position (and at most CHECKPOINT_EVERY_MS). */
const SAVE_EVERY_CHUNKS = 4;

/**
 * One resource's listing, from its saved position until it ends or stops (never rejects); or one
 * range of a split listing (./split-listing.ts): OfficeRnD's records of its createdAt range merged
 * with the documents of its id range, its position saved as the range's, and no `/count` check
 * (the type's is made once every range is listed).
 */
export async function listResource(
  deps: BackupDeps,
  run: ListingRun,
  resource: ResourceName,
  progress: ResourceProgress,
  range?: ListingRange,
): Promise<ListingOutcome> {
  const started = performance.now();
  const signal = run.controller.signal;
  const stream = writeStreamFor(deps, run, progress);
  const outcome: ListingOutcome = {
    resource,
    apiError: null,
    firestoreError: null,
    cancelled: false,
    budgetStop: false,
    stream,
  };
  const merge = new ResourceMerge(
    deps.db,
    resource,
    new FirestoreCursor(deps.db, resource, {
      after: progress.lastId,
      from: range?.from ?? null,
      before: range?.before ?? null,
      pageSize: deps.indexPageSize,
      pageTimeoutMs: firestoreTimeout(deps),
      signal,
    }),
    progress,
    {
      orphanPolicy: deps.config.orphanPolicy,
      previousConflicts: run.previousConflicts.get(resource),
      // Compared with a removal mark's time, which the webhook takes from its own clock.
      listingStartedAt: run.listingStartedAt - CLOCK_MARGIN_MS,
      candidateLimit: candidateLimit(deps.config.maxRemovals),
      lookupTimeoutMs: firestoreTimeout(deps),
      ...(range ? { range: { from: range.from, before: range.before } } : {}),
    },
  );
  // The position after the last page merged; saved once that page's writes are written.
  let cursor = progress.cursor;
  let savedAt = performance.now();
  let savedFlushes = 0;
  /** Saves the position, unless a write of the pages before it was not made or may not be. */
  const save = async (): Promise<void> => {
    await stream.flush();
    if (stream.stopped || !run.mayWrite()) return;
    progress.cursor = cursor;
    savedAt = performance.now();
    savedFlushes = stream.flushes;
    const saving =
      range === undefined
        ? saveProgress(deps.db, run.runId, resource, progress, firestoreTimeout(deps))
        : saveRangeProgress(
            deps.db,
            run.runId,
            resource,
            range.index,
            progress,
            firestoreTimeout(deps),
          );
    await saving.catch((error: unknown) => {
      throw new FirestoreSideError(error);
    });
  };
  /** The pages from the saved position on, each merged and its writes streamed out. */
  const listPages = async (): Promise<void> => {
    let pages = 0;
    const filters = range?.filters;
    // A whole chain before a split type's ranges at the read limiter: a chain cannot spread its
    // pages over the slots in flight, the ranges can (../officernd/limiter.ts).
    const priority = range ? RANGE_PRIORITY : CHAIN_PRIORITY;
    for await (const page of deps.reader.pages(resource, { signal, cursor, filters, priority })) {
      let writes;
      try {
        writes = await merge.addPage(page);
      } catch (error) {
        throw error instanceof DuplicateRecordError ? error : new FirestoreSideError(error);
      }
      await stream.add(writes);
      cursor = page.cursorNext ?? null;
      pages += 1;
      if (stream.stopped) return;
      if (pages % PROGRESS_EVERY_PAGES === 0) {
        logs.backupProgress({
          runId: run.runId,
          phase: "reading",
          resource,
          range: range?.index,
          pages: progress.pages,
          records: progress.api,
          written: progress.written,
        });
      }
      // Every few chunks written (a crash then re-reads at most their pages), or every so often.
      // Saving waits for the chunk in flight, so not after every one.
      const due = stream.flushes >= savedFlushes + SAVE_EVERY_CHUNKS;
      if (due || performance.now() - savedAt >= CHECKPOINT_EVERY_MS) {
        await save();
      }
      // Past the last page (no cursor) the listing ends here: only a position can be handed over.
      if (run.budget.spent && cursor !== null) throw new TimeBudgetError(run.budget.budgetMs ?? 0);
    }
  };
  /** OfficeRnD's `/count` against the listing, once it ended (a budget stop leaves it pending). */
  const countCheck = async (): Promise<void> => {
    if (range !== undefined) {
      // One range: the type's /count is checked against every range's listing at once.
      progress.counted = true;
      return;
    }
    progress.unverified = await verifyListing(
      deps,
      resource,
      progress.api + progress.rejected,
      signal,
    );
    progress.counted = true;
  };
  try {
    if (progress.listed) {
      if (!progress.counted) await countCheck();
    } else {
      await listPages();
      if (!stream.stopped) {
        await merge.finish().catch((error: unknown) => {
          throw new FirestoreSideError(error);
        });
        progress.listed = true;
        cursor = null;
        await countCheck();
      }
    }
  } catch (error) {
    // Only the budget hands over; any other error (even past the budget) is a failure.
    if (error instanceof TimeBudgetError) outcome.budgetStop = true;
    else if (signal.aborted && !(error instanceof DuplicateRecordError)) outcome.cancelled = true;
    else {
      if (error instanceof FirestoreSideError) outcome.firestoreError = error.error;
      else outcome.apiError = error;
      run.controller.abort();
    }
  }
  // What was read is written (OfficeRnD's data as read), whatever stopped the listing.
  await stream.flush().catch((error: unknown) => {
    stream.stoppedBy ??= error;
  });
  if (stream.stopped) run.controller.abort();
  if (outcome.budgetStop || progress.listed) {
    await save().catch((error: unknown) => {
      // A continuation needs the position; a finished listing's is only a shortcut for one.
      if (outcome.budgetStop) outcome.firestoreError ??= error;
    });
  }
  logs.backupProgress({
    runId: run.runId,
    phase: progress.listed ? "listed" : "stopped",
    resource,
    range: range?.index,
    api: progress.api,
    strays: range ? progress.strayCount : undefined,
    firestore: progress.firestore,
    firestoreRemoved: progress.firestoreRemoved,
    pages: progress.pages,
    rejected: progress.rejected,
    missing: progress.missing,
    changed: progress.changed,
    written: progress.written,
    candidates: progress.candidates,
    durationMs: Math.round(performance.now() - started),
  });
  return outcome;
}

/** The run's writes for one resource: its chunk size, deadline, lease check and hooks. */
export function writeStreamFor(
  deps: BackupDeps,
  run: Pick<ListingRun, "now" | "assertLease" | "afterChunk">,
  progress: ResourceProgress,
): WriteStream {
  return new WriteStream(deps.db, progress, {
    chunkSize: Math.max(1, deps.writeChunkSize ?? 500),
    chunkTimeoutMs: firestoreTimeout(deps),
    now: run.now,
    bulkWriter: deps.bulkWriter,
    beforeChunk: run.assertLease,
    afterChunk: run.afterChunk,
  });
}

/** Removal candidates a run keeps (ids): enough for BACKUP_MAX_REMOVALS and the conflicts. */
export function candidateLimit(maxRemovals: number): number {
  return Math.min(MAX_KEPT_IDS, Math.max(1_000, maxRemovals * 2 + 1));
}
