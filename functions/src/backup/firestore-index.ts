import { FieldPath, type Firestore, type QueryDocumentSnapshot } from "firebase-admin/firestore";
import { recordVersion, RESOURCES, type ResourceName } from "../officernd/resources";
import { FIRESTORE_TIMEOUT_MS, within } from "../mirror/deadline";
import { SYNC_FIELD, syncInfoSchema } from "../mirror/record-document";
import { recordHash } from "../mirror/record-hash";
import type { DocumentBase } from "../mirror/bulk-writes";

/**
 * What the backup needs to know about each mirrored document, without keeping documents: the
 * content hash, whether it is marked removed, and the version (update time, field names) that a
 * conditional write must match. About 150 bytes a document; field-name lists are shared.
 */
export interface IndexEntry extends DocumentBase {
  readonly hash: string;
  /** `_sync.removedAt` is set: gone from OfficeRnD, kept as marked. */
  readonly removed: boolean;
  /** `_sync` is well formed; a document without it is rewritten even if its content matches. */
  readonly syncValid: boolean;
  /** The stored record's version (its resource's version field, ms); null when it has none. */
  readonly version: number | null;
}

export interface FirestoreIndex {
  readonly resource: ResourceName;
  readonly entries: ReadonlyMap<string, IndexEntry>;
  /** Documents not marked removed (what the seed calls "members in Firestore"). */
  readonly live: number;
  /** Documents marked removed. */
  readonly removed: number;
  readonly pages: number;
}

export interface ReadIndexOptions {
  /** Documents per query (default 1000). */
  pageSize?: number;
  signal?: AbortSignal;
  /** Longest wait for one page (default 60 s); past it the read fails with DEADLINE_EXCEEDED. */
  pageTimeoutMs?: number;
  onPage?: (progress: { resource: ResourceName; page: number; documents: number }) => void;
}

/** Builds an index entry from a stored document. */
export function indexEntry(
  resource: ResourceName,
  snapshot: Pick<QueryDocumentSnapshot, "data" | "updateTime">,
  internFields: (fields: string[]) => readonly string[] = (f) => f,
): IndexEntry {
  const data = snapshot.data();
  const sync = syncInfoSchema.safeParse(data[SYNC_FIELD]);
  const fields = Object.keys(data)
    .filter((k) => k !== SYNC_FIELD)
    .sort();
  return {
    hash: recordHash(data),
    removed: sync.success && sync.data.removedAt !== null,
    syncValid: sync.success,
    version: recordVersion(resource, data),
    updateTime: snapshot.updateTime,
    fields: internFields(fields),
  };
}

/**
 * Reads one mirrored collection page by page in document-id order into a compact index. Only one
 * page of documents is held at a time.
 */
export async function readFirestoreIndex(
  db: Firestore,
  resource: ResourceName,
  options: ReadIndexOptions = {},
): Promise<FirestoreIndex> {
  const pageSize = Math.max(1, options.pageSize ?? 1000);
  const collection = db.collection(RESOURCES[resource].collection);
  const entries = new Map<string, IndexEntry>();
  // Most documents of a collection share one field list: keep a single copy of each.
  const fieldLists = new Map<string, readonly string[]>();
  const intern = (fields: string[]): readonly string[] => {
    const key = fields.join("\u0000");
    const known = fieldLists.get(key);
    if (known) return known;
    fieldLists.set(key, fields);
    return fields;
  };
  let live = 0;
  let removed = 0;
  let pages = 0;
  let last: QueryDocumentSnapshot | null = null;
  for (;;) {
    options.signal?.throwIfAborted();
    let query = collection.orderBy(FieldPath.documentId()).limit(pageSize);
    if (last !== null) query = query.startAfter(last);
    const snapshot = await within(query.get(), options.pageTimeoutMs ?? FIRESTORE_TIMEOUT_MS);
    pages += 1;
    for (const doc of snapshot.docs) {
      const entry = indexEntry(resource, doc, intern);
      entries.set(doc.id, entry);
      if (entry.removed) removed += 1;
      else live += 1;
    }
    options.onPage?.({ resource, page: pages, documents: entries.size });
    if (snapshot.size < pageSize) break;
    last = snapshot.docs[snapshot.size - 1] ?? null;
  }
  return { resource, entries, live, removed, pages };
}
