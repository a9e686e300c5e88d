import { FieldPath, type Firestore } from "firebase-admin/firestore";
import { RESOURCES, type ResourceName } from "../officernd/resources";
import { FIRESTORE_TIMEOUT_MS, within } from "../mirror/deadline";
import { indexEntry, type IndexEntry } from "./firestore-index";

/**
 * One mirrored collection read in document-id order, a page at a time, as a cursor the merge
 * (./merge.ts) pulls from: at most one page of index entries is held, whatever the size of the
 * collection. Firestore orders a query on `FieldPath.documentId()` by document id; the merge
 * compares ids the same way (`compareIds`).
 */

export interface CursorEntry {
  id: string;
  entry: IndexEntry;
}

export interface FirestoreCursorOptions {
  /** Start after this document id (a resumed run); null: from the first document. */
  after?: string | null;
  /**
   * Only documents whose id is at least `from` and below `before` (one range of a split listing,
   * ./listing-ranges.ts); null: unbounded on that side.
   */
  from?: string | null;
  before?: string | null;
  /** Documents per query (default 1000). */
  pageSize?: number;
  /** Longest wait for one page; past it the read fails with DEADLINE_EXCEEDED. */
  pageTimeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Firestore's order of document ids: by UTF-8 bytes. JavaScript's `<` compares UTF-16 code units,
 * which agrees for every id without characters beyond U+FFFF (OfficeRnD's ids are 24 hex digits);
 * the byte comparison handles the rest.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  // Surrogates (U+D800–U+DFFF) are where UTF-16 and UTF-8 orders can disagree.
  if (/[\ud800-\udfff]/.test(a) || /[\ud800-\udfff]/.test(b)) {
    return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
  }
  return a < b ? -1 : 1;
}

export class FirestoreCursor {
  private buffer: CursorEntry[] = [];
  private position = 0;
  private last: string | null;
  private exhausted = false;
  /** Pages read so far. */
  pages = 0;

  constructor(
    private readonly db: Firestore,
    readonly resource: ResourceName,
    private readonly options: FirestoreCursorOptions = {},
  ) {
    this.last = options.after ?? null;
  }

  /** The next document without consuming it; null at the end of the collection. */
  async peek(): Promise<CursorEntry | null> {
    if (this.position >= this.buffer.length && !this.exhausted) await this.fill();
    return this.buffer[this.position] ?? null;
  }

  /** Consumes the document peek() returned. */
  advance(): void {
    this.position += 1;
  }

  private async fill(): Promise<void> {
    this.options.signal?.throwIfAborted();
    const pageSize = Math.max(1, this.options.pageSize ?? 1000);
    let query = this.db
      .collection(RESOURCES[this.resource].collection)
      .orderBy(FieldPath.documentId())
      .limit(pageSize);
    const from = this.options.from ?? null;
    const before = this.options.before ?? null;
    if (before !== null && this.last !== null && compareIds(this.last, before) >= 0) {
      // Resumed past the end of its range: nothing is left on this side.
      this.buffer = [];
      this.position = 0;
      this.exhausted = true;
      return;
    }
    if (this.last !== null && (from === null || compareIds(this.last, from) >= 0)) {
      query = query.startAfter(this.last);
    } else if (from !== null) query = query.startAt(from);
    if (before !== null) query = query.endBefore(before);
    const snapshot = await within(query.get(), this.options.pageTimeoutMs ?? FIRESTORE_TIMEOUT_MS);
    this.pages += 1;
    this.buffer = snapshot.docs.map((doc) => ({
      id: doc.id,
      entry: indexEntry(this.resource, doc),
    }));
    this.position = 0;
    this.last = this.buffer.at(-1)?.id ?? this.last;
    if (snapshot.size < pageSize) this.exhausted = true;
  }
}
