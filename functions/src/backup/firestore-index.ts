import type { DocumentSnapshot, QueryDocumentSnapshot } from "firebase-admin/firestore";
import { recordVersion, type ResourceName } from "../officernd/resources";
import { SYNC_FIELD, syncInfoSchema } from "../mirror/record-document";
import { recordHash } from "../mirror/record-hash";
import type { DocumentBase } from "../mirror/bulk-writes";

/**
 * What the backup needs to know about each mirrored document, without keeping documents: the
 * content hash, whether it is marked removed, and the version (update time, field names) that a
 * conditional write must match. The full run holds a page of them at a time
 * (./firestore-cursor.ts); an incremental run, the few documents of the records it lists.
 */
export interface IndexEntry extends DocumentBase {
  readonly hash: string;
  /** `_sync.removedAt` is set: gone from OfficeRnD, kept as marked. */
  readonly removed: boolean;
  /** When it was marked removed (ms); null when it is not. */
  readonly removedAt: number | null;
  /** `_sync` is well formed; a document without it is rewritten even if its content matches. */
  readonly syncValid: boolean;
  /** The stored record's version (its resource's version field, ms); null when it has none. */
  readonly version: number | null;
}

/** Entries by id, for the in-memory diff of an incremental run (./reconcile.ts). */
export interface FirestoreIndex {
  readonly resource: ResourceName;
  readonly entries: ReadonlyMap<string, IndexEntry>;
  /** Documents not marked removed (what the seed calls "members in Firestore"). */
  readonly live: number;
  /** Documents marked removed. */
  readonly removed: number;
  readonly pages: number;
}

/** Builds an index entry from a stored document. */
export function indexEntry(
  resource: ResourceName,
  snapshot: Pick<QueryDocumentSnapshot, "data" | "updateTime">,
): IndexEntry {
  const data = snapshot.data();
  const sync = syncInfoSchema.safeParse(data[SYNC_FIELD]);
  const fields = Object.keys(data)
    .filter((k) => k !== SYNC_FIELD)
    .sort();
  return {
    hash: recordHash(data),
    removed: sync.success && sync.data.removedAt !== null,
    removedAt: sync.success ? (sync.data.removedAt?.toMillis() ?? null) : null,
    syncValid: sync.success,
    version: recordVersion(resource, data),
    updateTime: snapshot.updateTime,
    fields,
  };
}

/** The entry of a document read by id (a lookup, a re-read); null when it does not exist. */
export function storedEntry(resource: ResourceName, snapshot: DocumentSnapshot): IndexEntry | null {
  const data = snapshot.data();
  const updateTime = snapshot.updateTime;
  if (data === undefined || updateTime === undefined) return null;
  return indexEntry(resource, { data: () => data, updateTime });
}
