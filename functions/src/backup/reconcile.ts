import type { ResourceName } from "../officernd/resources";
import type { OfficeRndRecord } from "../officernd/schemas";
import type { ResourcePage } from "../officernd/types";
import type { FirestoreIndex, IndexEntry } from "./firestore-index";
import { recordHash } from "../mirror/record-hash";

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
}

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

  constructor(
    readonly resource: ResourceName,
    private readonly orphanPolicy: OrphanPolicy = "mark",
  ) {}

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
    for (const record of page.records) {
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
    if (existing === null || existing.removed) {
      this.missing.push({ record, existing });
    } else if (!existing.syncValid || existing.hash !== recordHash(record)) {
      this.changed.push({ record, existing });
    } else {
      this.unchanged += 1;
    }
  }

  /** The diff, once every page was added and the index set. */
  finish(): ResourceDiff {
    const index = this.index;
    if (index === null) throw new Error(`${this.resource}: the Firestore index was never set`);
    const orphaned: OrphanedDocument[] = [];
    for (const [id, existing] of index.entries) {
      if (this.seen.has(id)) continue;
      if (existing.removed && this.orphanPolicy === "mark") continue;
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
    };
  }
}

/** One-shot diff of a complete listing (tests, tools). */
export function diffResource(
  index: FirestoreIndex,
  pages: Iterable<ResourcePage>,
  orphanPolicy: OrphanPolicy = "mark",
): ResourceDiff {
  const reconciler = new ResourceReconciler(index.resource, orphanPolicy);
  reconciler.setFirestoreIndex(index);
  for (const page of pages) reconciler.addPage(page);
  return reconciler.finish();
}

/**
 * Share by which OfficeRnD's list is smaller than Firestore's live documents (0 when it grew).
 * The shrink guard holds back removals when this exceeds the configured share, or when OfficeRnD
 * listed nothing while Firestore has documents.
 */
export function shrinkage(diff: Pick<ResourceDiff, "firestore" | "api">): number {
  if (diff.firestore === 0) return 0;
  return Math.max(0, (diff.firestore - diff.api) / diff.firestore);
}

export function shrinkGuardTripped(
  diff: Pick<ResourceDiff, "firestore" | "api">,
  maxShrink: number,
): boolean {
  if (diff.firestore === 0) return false;
  return diff.api === 0 || shrinkage(diff) > maxShrink;
}
