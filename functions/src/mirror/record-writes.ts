import { FieldPath, type Firestore, type Transaction } from "firebase-admin/firestore";
import type { ResourceName } from "../officernd/resources";
import type { OfficeRndRecord } from "../officernd/schemas";
import {
  recordDocument,
  recordRef,
  SYNC_FIELD,
  syncInfo,
  type SyncSource,
} from "./record-document";
import { findUnstorable, UnstorableRecordError } from "./storable";

/**
 * Writes of one record: queued inside a caller's transaction (the webhook compares `modifiedAt`
 * and writes atomically), or the same committed alone (tools, tests). The backup's conditional
 * bulk writes are in ./bulk-writes.ts.
 */

// ---- One record, unconditionally (tools, tests): the transaction variants below, committed alone

export interface WriteContext {
  source: SyncSource;
  now: Date;
}

/** Creates or replaces a record's document. Throws UnstorableRecordError before writing anything. */
export async function writeRecord(
  db: Firestore,
  resource: ResourceName,
  record: OfficeRndRecord,
  context: WriteContext,
): Promise<void> {
  await db.runTransaction((tx) => {
    writeRecordIn(tx, db, resource, record, context);
    return Promise.resolve();
  });
}

/** Marks a record removed in OfficeRnD (content kept). False when there is no such document. */
export async function markRecordRemoved(
  db: Firestore,
  resource: ResourceName,
  id: string,
  context: WriteContext,
): Promise<boolean> {
  return db.runTransaction(async (tx) => {
    const snapshot = await tx.get(recordRef(db, resource, id));
    if (!snapshot.exists) return false;
    markRecordRemovedIn(tx, db, resource, id, context);
    return true;
  });
}

// ---- Writes inside a caller's transaction (the webhook's check-then-write) ----------------------
// The same documents as above; the caller reads the current document in the same transaction and
// decides (e.g. by `modifiedAt`) whether to write, so the check and the write are one atomic step.

/** Queues a create-or-replace in `tx`. Throws UnstorableRecordError before queuing anything. */
export function writeRecordIn(
  tx: Transaction,
  db: Firestore,
  resource: ResourceName,
  record: OfficeRndRecord,
  context: WriteContext,
): void {
  const problem = findUnstorable(resource, record);
  if (problem !== null) throw new UnstorableRecordError(resource, record._id, problem);
  tx.set(
    recordRef(db, resource, record._id),
    recordDocument(record, syncInfo(context.source, context.now)),
  );
}

/** Queues marking an existing document removed (content kept); the transaction read it. */
export function markRecordRemovedIn(
  tx: Transaction,
  db: Firestore,
  resource: ResourceName,
  id: string,
  context: WriteContext,
): void {
  tx.update(
    recordRef(db, resource, id),
    new FieldPath(SYNC_FIELD),
    syncInfo(context.source, context.now, true),
  );
}

export function deleteRecordIn(
  tx: Transaction,
  db: Firestore,
  resource: ResourceName,
  id: string,
): void {
  tx.delete(recordRef(db, resource, id));
}
