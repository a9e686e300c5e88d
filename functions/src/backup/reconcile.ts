import type { ResourceName } from "../officernd/resources";
import type { OfficeRndRecord } from "../officernd/schemas";
import type { ResourcePage } from "../officernd/types";
import type { FirestoreIndex, IndexEntry } from "./firestore-index";
import { withNormalizedId } from "../mirror/record-document";
import { decideRecord, type DeferReason } from "./record-decision";

/**
 * The diff of one resource by `_id`, OfficeRnD against Firestore. Pure: no I/O. Pages are fed as
 * the client yields them and only records that differ from Firestore are kept; records that
 * arrive before the Firestore index is ready wait (compared as soon as it is).
 *
 * - missing: in OfficeRnD, and in Firestore either absent or marked removed;
 * - changed: in both, content differs (or the document's `_sync` is malformed);
 * - orphaned: in Firestore, not in OfficeRnD. With the `mark` policy only documents not yet
 *   marked removed count; with `delete`, every such document (marked ones included) does.
 */

export type OrphanPolicy = "mark" | "delete";

export interface DifferingRecord {
  record: OfficeRndRecord;
  /** The stored document's index entry; null when there is no document. */
  existing: IndexEntry | null;
}

export interface OrphanedDocument {
  id: string;
  existing: IndexEntry;
}

/**
 * A difference this run leaves alone because a webhook may have caused it:
 * - `older_than_stored`: OfficeRnD's record is older (by `modifiedAt`) than the stored one;
 * - `changed_during_listing`: a document OfficeRnD did not list was written after the listing
 *   began (a record created, or changed, mid-run).
 * Compared again next run; found again then, it is repaired from OfficeRnD.
 */
export interface DeferredDifference {
  id: string;
  reason: DeferReason | "changed_during_listing";
}

export interface ResourceDiff {
  resource: ResourceName;
  /** Documents not marked removed, before the run. */
  firestore: number;
  /** Documents marked removed, before the run. */
  firestoreRemoved: number;
  /** Valid records OfficeRnD listed. */
  api: number;
  /** Records the client rejected (failed validation). */
  rejected: number;
  pages: number;
  unchanged: number;
  missing: DifferingRecord[];
  changed: DifferingRecord[];
  orphaned: OrphanedDocument[];
  /** Differences left alone this run (see DeferredDifference). */
  deferred: DeferredDifference[];
  /** Records stored as sent whose fields differ from the resource's schema, and examples. */
  drifted: number;
  driftExamples: string[];
}

export interface ReconcilerOptions {
  orphanPolicy?: OrphanPolicy;
  /**
   * When the listing began (ms, on Firestore's clock). A document not listed but written after
   * this is not removed this run. Absent: no such check (one-shot diffs in tests and tools).
   */
  listingStartedAt?: number;
  /** Ids the previous complete run left alone: this time they are repaired from OfficeRnD. */
  previousConflicts?: ReadonlySet<string>;
}

/** Allowance when this machine's clock must stand in for Firestore's commit times. */
export const CLOCK_MARGIN_MS = 5_000;
const DRIFT_EXAMPLES = 3;

/** The same `_id` twice in one listing: the listing is not trustworthy. */
export class DuplicateRecordError extends Error {
  constructor(
    readonly resource: ResourceName,
    readonly id: string,
    readonly page: number,
  ) {
    super(`${resource}: record ${id} listed twice (again on page ${page})`);
    this.name = "DuplicateRecordError";
  }
}

export class ResourceReconciler {
  private index: FirestoreIndex | null = null;
  private readonly seen = new Set<string>();
  private waiting: OfficeRndRecord[] = [];
  private rejected = 0;
  private pages = 0;
  private unchanged = 0;
  private readonly missing: DifferingRecord[] = [];
  private readonly changed: DifferingRecord[] = [];
  private readonly deferred: DeferredDifference[] = [];
  private drifted = 0;
  private readonly driftExamples: string[] = [];
  private readonly orphanPolicy: OrphanPolicy;

  constructor(
    readonly resource: ResourceName,
    private readonly options: ReconcilerOptions = {},
  ) {
    this.orphanPolicy = options.orphanPolicy ?? "mark";
  }

  get indexReady(): boolean {
    return this.index !== null;
  }

  /** Records received so far (valid ones). */
  get received(): number {
    return this.seen.size;
  }

  addPage(page: ResourcePage): void {
    this.pages += 1;
    this.rejected += page.rejected.length;
    this.drifted += page.drift.length;
    for (const drift of page.drift) {
      if (this.driftExamples.length < DRIFT_EXAMPLES) {
        this.driftExamples.push(`${drift.id} (${drift.reason})`);
      }
    }
    for (const listed of page.records) {
      // The mirror's form of the id (lower case), as the webhooks store it: one document per record.
      const record = withNormalizedId(listed);
      if (this.seen.has(record._id)) {
        throw new DuplicateRecordError(this.resource, record._id, page.page);
      }
      this.seen.add(record._id);
      if (this.index === null) this.waiting.push(record);
      else this.compare(record, this.index);
    }
  }

  setFirestoreIndex(index: FirestoreIndex): void {
    if (index.resource !== this.resource) {
      throw new Error(`index of ${index.resource} given to the ${this.resource} reconciler`);
    }
    this.index = index;
    const waiting = this.waiting;
    this.waiting = [];
    for (const record of waiting) this.compare(record, index);
  }

  private compare(record: OfficeRndRecord, index: FirestoreIndex): void {
    const existing = index.entries.get(record._id) ?? null;
    const decision = decideRecord(
      this.resource,
      record,
      existing,
      this.repairs(record._id),
      this.options.listingStartedAt,
    );
    if (decision.kind === "missing") this.missing.push({ record, existing });
    else if (decision.kind === "changed") this.changed.push({ record, existing });
    else if (decision.kind === "deferred") {
      this.deferred.push({ id: record._id, reason: decision.reason });
    } else this.unchanged += 1;
  }

  private repairs(id: string): boolean {
    return this.options.previousConflicts?.has(id) ?? false;
  }

  /** The diff, once every page was added and the index set. */
  finish(): ResourceDiff {
    const index = this.index;
    if (index === null) throw new Error(`${this.resource}: the Firestore index was never set`);
    const orphaned: OrphanedDocument[] = [];
    const since = this.options.listingStartedAt;
    for (const [id, existing] of index.entries) {
      if (this.seen.has(id)) continue;
      if (existing.removed && this.orphanPolicy === "mark") continue;
      // Written after the listing began: perhaps a record created or changed mid-run.
      const recent = since !== undefined && existing.updateTime.toMillis() > since;
      if (recent && !this.repairs(id)) {
        this.deferred.push({ id, reason: "changed_during_listing" });
        continue;
      }
      orphaned.push({ id, existing });
    }
    return {
      resource: this.resource,
      firestore: index.live,
      firestoreRemoved: index.removed,
      api: this.seen.size,
      rejected: this.rejected,
      pages: this.pages,
      unchanged: this.unchanged,
      missing: this.missing,
      changed: this.changed,
      orphaned,
      deferred: this.deferred,
      drifted: this.drifted,
      driftExamples: this.driftExamples,
    };
  }
}

/** One-shot diff of a complete listing (tests, tools). */
export function diffResource(
  index: FirestoreIndex,
  pages: Iterable<ResourcePage>,
  orphanPolicy: OrphanPolicy = "mark",
): ResourceDiff {
  const reconciler = new ResourceReconciler(index.resource, { orphanPolicy });
  reconciler.setFirestoreIndex(index);
  for (const page of pages) reconciler.addPage(page);
  return reconciler.finish();
}
