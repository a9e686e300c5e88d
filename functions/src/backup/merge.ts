import type { Firestore } from "firebase-admin/firestore";
import type { ResourceName } from "../officernd/resources";
import type { ResourcePage } from "../officernd/types";
import type { RecordWrite } from "../mirror/bulk-writes";
import { within } from "../mirror/deadline";
import { recordRef, withNormalizedId } from "../mirror/record-document";
import { compareIds, type FirestoreCursor } from "./firestore-cursor";
import { storedEntry, type IndexEntry } from "./firestore-index";
import { keepId, MAX_STRAYS, type ResourceProgress } from "./progress";
import { createdAtSecond, objectIdSeconds } from "./listing-ranges";
import { decideRecord } from "./record-decision";
import { DuplicateRecordError, type OrphanPolicy } from "./reconcile";

/**
 * The full run's diff of one resource as two sorted streams merged by id: OfficeRnD's pages
 * (keyset-ordered by `_id`, docs/officernd-api.md; the client checks the order) and the mirrored
 * collection in document-id order (./firestore-cursor.ts). Memory is one page of each side, not
 * the organization: each page's differences come back as writes to stream out, and documents
 * OfficeRnD did not list become removal candidates (ids, capped), decided once the listing is
 * complete and verified (./removal-phase.ts).
 *
 * The order is checked, not trusted: a record that arrives out of order (a reader that does not
 * sort) is looked up by id instead, and taken back from the candidates if the cursor had passed
 * its document; a repeated id fails the listing (DuplicateRecordError).
 */

export interface MergeOptions {
  orphanPolicy: OrphanPolicy;
  /** Ids the previous complete run left alone: this time they are repaired from OfficeRnD. */
  previousConflicts?: ReadonlySet<string>;
  /**
   * When the run's listing began (ms, Firestore's clock less a margin): a document marked removed
   * after it (a webhook's removal) is not recreated this run (./record-decision.ts).
   */
  listingStartedAt: number;
  /** Most candidate ids kept (the removal phase can only act on kept ids). */
  candidateLimit: number;
  /** Longest wait for a lookup of one document (records out of order). */
  lookupTimeoutMs: number;
  /**
   * One range of a split listing (./listing-ranges.ts): the Firestore side holds only the
   * documents whose id is in [from, before). A listed record whose id is outside is a stray
   * (its `createdAt` disagrees with its id time): looked up by id and kept in `strays`.
   */
  range?: { from: string | null; before: string | null };
}

const DRIFT_EXAMPLES = 3;
/** A createdAt this far from its id's second counts as misdated (./split-plan.ts). */
const MISDATED_SECONDS = 60;

export class ResourceMerge {
  /** Ids of records merged out of order: a repeat among them is a duplicate too. */
  private readonly outOfOrder = new Set<string>();

  constructor(
    private readonly db: Firestore,
    readonly resource: ResourceName,
    private readonly firestore: FirestoreCursor,
    /** Updated in place: counts so far, the position, the candidates. */
    readonly progress: ResourceProgress,
    private readonly options: MergeOptions,
  ) {}

  /** Merges one page; returns the writes its differences need (creates and replaces). */
  async addPage(page: ResourcePage): Promise<RecordWrite[]> {
    const p = this.progress;
    p.pages += 1;
    p.rejected += page.rejected.length;
    p.drifted += page.drift.length;
    for (const drift of page.drift) {
      if (p.driftExamples.length < DRIFT_EXAMPLES)
        p.driftExamples.push(`${drift.id} (${drift.reason})`);
    }
    const fields = new Set(p.fields);
    const known = fields.size;
    const writes: RecordWrite[] = [];
    for (const listed of page.records) {
      for (const key of Object.keys(listed)) fields.add(key);
      // The mirror's form of the id (lower case), as the webhooks store it.
      const record = withNormalizedId(listed);
      const id = record._id;
      const order = p.lastId === null ? 1 : compareIds(id, p.lastId);
      if (order === 0 || this.outOfOrder.has(id)) {
        throw new DuplicateRecordError(this.resource, id, page.page);
      }
      // Would it be a stray of a split listing? Only far from its id time: a createdAt set a
      // moment after the id was made (the next second) strays only next to a split point.
      const created = createdAtSecond(listed.createdAt);
      const idTime = objectIdSeconds(id);
      if (created === null) p.undated += 1;
      else if (idTime === null || Math.abs(created - idTime) >= MISDATED_SECONDS) p.misdated += 1;
      const stray = this.isStray(id);
      let existing: IndexEntry | null;
      if (order > 0) {
        // A stray past the range's end passes the rest of the range (later ids are larger still).
        existing = await this.seek(id);
        p.lastId = id;
      } else {
        this.outOfOrder.add(id);
        existing = stray ? null : await this.lookUp(id);
      }
      if (stray) existing = await this.lookUpStray(id);
      p.api += 1;
      const decision = decideRecord(
        this.resource,
        record,
        existing,
        this.repairs(id),
        this.options.listingStartedAt,
      );
      if (decision.kind === "deferred") {
        p.deferred += 1;
        keepId(p.deferredIds, id);
      } else if (decision.kind === "unchanged") p.unchanged += 1;
      else {
        p[decision.kind] += 1;
        writes.push(decision.write);
      }
    }
    if (fields.size > known) p.fields = [...fields].sort();
    return writes;
  }

  /** The listing ended: every document after the last listed id is a candidate. */
  async finish(): Promise<void> {
    for (
      let next = await this.firestore.peek();
      next !== null;
      next = await this.firestore.peek()
    ) {
      this.pass(next.id, next.entry);
      this.firestore.advance();
    }
  }

  /** Moves the Firestore side up to `id`; returns its document, if there is one. */
  private async seek(id: string): Promise<IndexEntry | null> {
    for (;;) {
      const next = await this.firestore.peek();
      if (next === null) return null;
      const order = compareIds(next.id, id);
      if (order > 0) return null;
      this.firestore.advance();
      if (order === 0) {
        this.count(next.entry);
        return next.entry;
      }
      this.pass(next.id, next.entry);
    }
  }

  /** A document the listing went past without listing it. */
  private pass(id: string, entry: IndexEntry): void {
    this.count(entry);
    // With `mark`, a document already marked removed is done with; `delete` removes it too.
    if (entry.removed && this.options.orphanPolicy === "mark") return;
    this.progress.candidates += 1;
    keepId(this.progress.candidateIds, id, this.options.candidateLimit);
  }

  private count(entry: IndexEntry): void {
    if (entry.removed) this.progress.firestoreRemoved += 1;
    else this.progress.firestore += 1;
  }

  /** A record out of order: its document by id (taken back from the candidates if passed). */
  private async lookUp(id: string): Promise<IndexEntry | null> {
    const snapshot = await within(
      recordRef(this.db, this.resource, id).get(),
      this.options.lookupTimeoutMs,
    );
    const entry = storedEntry(this.resource, snapshot);
    if (entry === null) return null;
    const p = this.progress;
    if (p.lastId !== null && compareIds(id, p.lastId) < 0) {
      // The cursor passed it as a candidate (or counted it uncounted, under `mark`): undo that.
      const at = p.candidateIds.indexOf(id);
      if (at >= 0) p.candidateIds.splice(at, 1);
      if (!(entry.removed && this.options.orphanPolicy === "mark")) {
        p.candidates = Math.max(0, p.candidates - 1);
      }
      if (entry.removed) p.firestoreRemoved = Math.max(0, p.firestoreRemoved - 1);
      else p.firestore = Math.max(0, p.firestore - 1);
    }
    this.count(entry);
    return entry;
  }

  /** Outside this range's id bounds: its document is another range's (or none's yet). */
  private isStray(id: string): boolean {
    const range = this.options.range;
    if (range === undefined) return false;
    if (range.from !== null && compareIds(id, range.from) < 0) return true;
    return range.before !== null && compareIds(id, range.before) >= 0;
  }

  /**
   * A stray's document, by id. Not counted here: the range whose id bounds hold it counts it
   * (and takes it for a candidate, which the split listing drops once every range is listed).
   */
  private async lookUpStray(id: string): Promise<IndexEntry | null> {
    const p = this.progress;
    p.strayCount += 1;
    keepId(p.strays, id, MAX_STRAYS);
    const snapshot = await within(
      recordRef(this.db, this.resource, id).get(),
      this.options.lookupTimeoutMs,
    );
    return storedEntry(this.resource, snapshot);
  }

  private repairs(id: string): boolean {
    return this.options.previousConflicts?.has(id) ?? false;
  }
}
