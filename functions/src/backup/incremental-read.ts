import { performance } from "node:perf_hooks";
import { FieldPath, type Firestore } from "firebase-admin/firestore";
import { logs } from "../logs";
import {
  modifiedSinceSupport,
  RESOURCE_NAMES,
  RESOURCES,
  type ResourceName,
} from "../officernd/resources";
import type { RangeFilter } from "../officernd/query";
import { OfficeRndError } from "../officernd/types";
import { within } from "../mirror/deadline";
import { withNormalizedId } from "../mirror/record-document";
import type { IncrementalCoverage } from "./documents";
import { indexEntry, type FirestoreIndex, type IndexEntry } from "./firestore-index";
import { planSync, type SyncPlan } from "./plan";
import type { ResourceRead } from "./resource-read";
import { CLOCK_MARGIN_MS, DuplicateRecordError, ResourceReconciler } from "./reconcile";
import { firestoreTimeout, type BackupDeps } from "./run-deps";

/**
 * Phase 1 of an incremental run, read: for each selected type that can be listed by
 * `modifiedAt` (the registry's modifiedSinceSupport, docs/officernd-api.md: members and companies
 * take the filter, opportunities and bookings are tried, locations and events carry no
 * modifiedAt), only the records modified since its high-water mark less INCREMENTAL_OVERLAP_MS,
 * compared with their own documents (looked up by id, never the whole collection). A ResourceRead
 * (./resource-read.ts) per type, so the in-memory plan (./plan.ts) and sync apply, with one
 * difference: nothing is ever removed (an unlisted record is simply unchanged; removals are the
 * full backup's and the webhooks' job).
 *
 * A type is left to the full backup, and the run says why (its coverage), when its records carry
 * no modifiedAt, no run has set its high-water mark yet (the next full backup sets it), OfficeRnD
 * refuses the filter (a 400: "property modifiedAt[$gte] should not exist", live, for parameters a
 * listing does not take) or ignores it (a record older than asked for comes back). Any other
 * failure fails the run as in a full run: nothing is written.
 */

/**
 * Read again before the high-water mark: OfficeRnD's clock and ours differ, and a record saved
 * while the previous run's listing began may carry a slightly earlier `modifiedAt`. Rewriting an
 * unchanged record costs nothing (its content hash matches: no write).
 */
export const INCREMENTAL_OVERLAP_MS = 5 * 60_000;
/** Ids per Firestore lookup (an `in` query takes at most 30 values). */
const LOOKUP_CHUNK = 30;

export interface IncrementalReads {
  /** Types read incrementally (the others have none). */
  reads: ResourceRead[];
  coverage: Partial<Record<ResourceName, IncrementalCoverage>>;
}

type Outcome = { read: ResourceRead } | { coverage: IncrementalCoverage };

const SKIPPED_NOTE = {
  no_modified_at: "its records carry no modifiedAt: full backup only",
  no_filter: "its listing takes no modifiedAt filter: full backup only",
  no_high_water_mark: "no run has set its high-water mark yet: the next full backup sets it",
} as const;

/** Every selected type at once; resolves when all reads have ended (never rejects). */
export async function readChangedResources(
  deps: BackupDeps,
  runId: string,
  highWaterMarks: ReadonlyMap<ResourceName, Date>,
): Promise<IncrementalReads> {
  const controller = new AbortController();
  const names = deps.resources ?? RESOURCE_NAMES;
  const outcomes = await Promise.all(
    names.map(async (resource): Promise<[ResourceName, Outcome]> => {
      const support = modifiedSinceSupport(resource);
      const mark = highWaterMarks.get(resource);
      const skip = (read: keyof typeof SKIPPED_NOTE): [ResourceName, Outcome] => [
        resource,
        { coverage: { read, since: null, note: SKIPPED_NOTE[read] } },
      ];
      if (support === "no_modified_at" || support === "no_filter") return skip(support);
      if (mark === undefined) return skip("no_high_water_mark");
      const since = new Date(mark.getTime() - INCREMENTAL_OVERLAP_MS);
      return [resource, await readChanged(deps, runId, resource, since, controller)];
    }),
  );
  const out: IncrementalReads = { reads: [], coverage: {} };
  for (const [resource, outcome] of outcomes) {
    if ("read" in outcome) {
      out.reads.push(outcome.read);
      const since = highWaterMarks.get(resource);
      out.coverage[resource] = {
        read: "incremental",
        since: since ? new Date(since.getTime() - INCREMENTAL_OVERLAP_MS).toISOString() : null,
        note: null,
      };
    } else {
      out.coverage[resource] = outcome.coverage;
      if (outcome.coverage.read.startsWith("filter_")) {
        logs.backupProgress({
          runId,
          phase: "full_backup_only",
          resource,
          reason: outcome.coverage.note,
        });
      }
    }
  }
  return out;
}

/**
 * The plan of an incremental run: the full run's rules (./plan.ts) for what was read, without
 * removals (none can be planned: every document compared was listed) and without remembering
 * conflicts (the full backup's list of them stays as it is; it finds these again itself).
 */
export function planIncremental(reads: readonly ResourceRead[], config: BackupDeps["config"]) {
  const plan: SyncPlan = planSync(reads, config);
  return {
    ...plan,
    writes: plan.writes.filter((w) => w.op === "create" || w.op === "replace"),
    deferred: {},
  };
}

async function readChanged(
  deps: BackupDeps,
  runId: string,
  resource: ResourceName,
  since: Date,
  controller: AbortController,
): Promise<Outcome> {
  const started = performance.now();
  const reconciler = new ResourceReconciler(resource, {
    orphanPolicy: deps.config.orphanPolicy,
    // A record a webhook marked removed after this listing began is not recreated (the mark's
    // time is the webhook's clock, this the run's: hence the margin).
    listingStartedAt: Date.now() - CLOCK_MARGIN_MS,
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
  const filter: RangeFilter = { field: "modifiedAt", op: "$gte", value: since.toISOString() };
  const ids: string[] = [];
  const { signal } = controller;
  let pages = 0;
  try {
    for await (const page of deps.reader.pages(resource, { filters: [filter], signal })) {
      if (signal.aborted) {
        read.cancelled = true;
        break;
      }
      const older = page.records.find((r) => !modifiedSince(r, since));
      if (older !== undefined) {
        const note = `OfficeRnD ignored the modifiedAt filter (record ${older._id} is older than ${filter.value}): full backup only`;
        return { coverage: { read: "filter_ignored", since: filter.value, note } };
      }
      reconciler.addPage(page);
      read.rejected += page.rejected.length;
      for (const record of page.records) ids.push(withNormalizedId(record)._id);
      pages += 1;
    }
  } catch (error) {
    if (refusedFilter(error)) {
      const note = `OfficeRnD refused the modifiedAt filter (400: ${error.message}): full backup only`;
      return { coverage: { read: "filter_refused", since: filter.value, note } };
    }
    if (signal.aborted && !(error instanceof DuplicateRecordError)) read.cancelled = true;
    else {
      read.apiError = error;
      controller.abort();
    }
  }
  read.received = reconciler.received;
  if (read.apiError === null && !read.cancelled) {
    try {
      read.index = await readDocuments(deps.db, resource, ids, firestoreTimeout(deps));
      reconciler.setFirestoreIndex(read.index);
      read.diff = { ...reconciler.finish(), orphaned: [] };
    } catch (error) {
      read.indexError = error;
      controller.abort();
    }
  }
  logs.backupProgress({
    runId,
    phase: "read",
    mode: "incremental",
    resource,
    since: filter.value,
    api: read.apiError === null && !read.cancelled ? read.received : null,
    firestore: read.index?.live ?? null,
    pages,
    rejected: read.rejected,
    durationMs: Math.round(performance.now() - started),
    ...(read.diff ? { missing: read.diff.missing.length, changed: read.diff.changed.length } : {}),
  });
  return { read };
}

/** A listing with the filter answered 400: the filter is what this request adds. */
function refusedFilter(error: unknown): error is OfficeRndError {
  return error instanceof OfficeRndError && error.status === 400;
}

/** Whether the record carries a `modifiedAt` at or after `since` (as a filtered listing must). */
function modifiedSince(record: Readonly<Record<string, unknown>>, since: Date): boolean {
  const value = record.modifiedAt;
  const ms = typeof value === "string" ? Date.parse(value) : Number.NaN;
  return !Number.isNaN(ms) && ms >= since.getTime();
}

/**
 * The documents of these records only, by id, as the index the reconciler compares with: queries
 * on the document id, at most LOOKUP_CHUNK ids each (Firestore's limit for `in`).
 */
async function readDocuments(
  db: Firestore,
  resource: ResourceName,
  ids: readonly string[],
  timeoutMs: number,
): Promise<FirestoreIndex> {
  const collection = db.collection(RESOURCES[resource].collection);
  const entries = new Map<string, IndexEntry>();
  let live = 0;
  let removed = 0;
  let pages = 0;
  for (let i = 0; i < ids.length; i += LOOKUP_CHUNK) {
    const chunk = ids.slice(i, i + LOOKUP_CHUNK);
    const snapshot = await within(
      collection.where(FieldPath.documentId(), "in", chunk).get(),
      timeoutMs,
    );
    pages += 1;
    for (const doc of snapshot.docs) {
      const entry = indexEntry(resource, doc);
      entries.set(doc.id, entry);
      if (entry.removed) removed += 1;
      else live += 1;
    }
  }
  return { resource, entries, live, removed, pages };
}
