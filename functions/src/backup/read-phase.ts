import { performance } from "node:perf_hooks";
import { logs } from "../logs";
import { RESOURCE_NAMES, type ResourceName } from "../officernd/resources";
import { readFirestoreIndex, type FirestoreIndex } from "./firestore-index";
import { readPreviousConflicts } from "./conflicts";
import { describeError } from "./problems";
import {
  CLOCK_MARGIN_MS,
  DuplicateRecordError,
  ResourceReconciler,
  type ReconcilerOptions,
  type ResourceDiff,
} from "./reconcile";
import { firestoreTimeout, type BackupDeps } from "./run-deps";

/**
 * Phase 1 of a run, read: for every resource at once, OfficeRnD's listing and Firestore's
 * documents side by side, diffed as pages arrive (./reconcile.ts). The first failure cancels the
 * other reads. Reads never write; what they found is data for the plan (./plan.ts).
 */

export interface ResourceRead {
  resource: ResourceName;
  index: FirestoreIndex | null;
  indexError: unknown;
  /** Set when both sides were read completely. */
  diff: ResourceDiff | null;
  apiError: unknown;
  /** Cancelled because another part of the run failed. */
  cancelled: boolean;
  received: number;
  rejected: number;
  /** Why the listing could not be shown complete by OfficeRnD's `/count`; null when it was. */
  unverified: string | null;
}

const PROGRESS_EVERY_PAGES = 20;

/** Every resource, side by side; resolves when all reads have ended (never rejects). */
export async function readAllResources(deps: BackupDeps, runId: string): Promise<ResourceRead[]> {
  const controller = new AbortController();
  // What the previous run left alone, and when the listings begin on Firestore's clock (the one
  // that stamps document writes). Unreadable: nothing to repair early, and this machine's clock
  // less a margin.
  const previous = await readPreviousConflicts(deps.db, firestoreTimeout(deps)).catch(() => ({
    ids: new Map<ResourceName, ReadonlySet<string>>(),
    readTime: Date.now() - CLOCK_MARGIN_MS,
  }));
  return Promise.all(
    (deps.resources ?? RESOURCE_NAMES).map((resource) =>
      readResource(deps, runId, resource, controller, {
        listingStartedAt: previous.readTime,
        previousConflicts: previous.ids.get(resource),
      }),
    ),
  );
}

/**
 * The listing's completeness check before anything is removed: OfficeRnD's own total
 * (`GET /{resource}/count`, docs/officernd-api.md) against what the listing returned. Counted
 * after the listing, so records removed meanwhile only make the listing look longer (harmless);
 * a shorter listing means records may be missing from it. Null when complete or not countable.
 */
export async function verifyListing(
  deps: BackupDeps,
  resource: ResourceName,
  listed: number,
  signal: AbortSignal,
): Promise<string | null> {
  if (deps.reader.count === undefined) return null;
  let total: number | null;
  try {
    total = await deps.reader.count(resource, { signal });
  } catch (error) {
    return `could not check the listing with OfficeRnD's /count (${describeError(error)})`;
  }
  if (total === null || total <= listed) return null;
  return `OfficeRnD's /count says ${total} but the listing returned ${listed}`;
}

async function readResource(
  deps: BackupDeps,
  runId: string,
  resource: ResourceName,
  controller: AbortController,
  race: Pick<ReconcilerOptions, "listingStartedAt" | "previousConflicts">,
): Promise<ResourceRead> {
  const started = performance.now();
  const reconciler = new ResourceReconciler(resource, {
    orphanPolicy: deps.config.orphanPolicy,
    ...race,
  });
  const read: ResourceRead = {
    resource,
    index: null,
    indexError: null,
    diff: null,
    apiError: null,
    cancelled: false,
    received: 0,
    rejected: 0,
    unverified: null,
  };
  const indexDone = readFirestoreIndex(deps.db, resource, {
    pageSize: deps.indexPageSize,
    pageTimeoutMs: firestoreTimeout(deps),
  }).then(
    (index) => {
      read.index = index;
      reconciler.setFirestoreIndex(index);
    },
    (error: unknown) => {
      read.indexError = error;
      controller.abort();
    },
  );
  const signal = controller.signal;
  let pages = 0;
  try {
    for await (const page of deps.reader.pages(resource, { signal })) {
      if (signal.aborted) {
        read.cancelled = true;
        break;
      }
      reconciler.addPage(page);
      read.rejected += page.rejected.length;
      pages += 1;
      if (pages % PROGRESS_EVERY_PAGES === 0) {
        logs.backupProgress({
          runId,
          phase: "reading",
          resource,
          pages,
          records: reconciler.received,
        });
      }
    }
  } catch (error) {
    if (signal.aborted && !(error instanceof DuplicateRecordError)) read.cancelled = true;
    else {
      read.apiError = error;
      controller.abort();
    }
  }
  read.received = reconciler.received;
  if (read.apiError === null && !read.cancelled) {
    read.unverified = await verifyListing(deps, resource, read.received + read.rejected, signal);
  }
  await indexDone;
  if (read.apiError === null && !read.cancelled && read.index !== null) {
    read.diff = reconciler.finish();
  }
  logs.backupProgress({
    runId,
    phase: "read",
    resource,
    api: read.apiError === null && !read.cancelled ? read.received : null,
    firestore: read.index?.live ?? null,
    firestoreRemoved: read.index?.removed ?? null,
    pages,
    rejected: read.rejected,
    durationMs: Math.round(performance.now() - started),
    ...(read.diff
      ? {
          missing: read.diff.missing.length,
          changed: read.diff.changed.length,
          orphaned: read.diff.orphaned.length,
        }
      : {}),
  });
  return read;
}
