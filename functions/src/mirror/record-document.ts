import {
  Timestamp,
  type DocumentData,
  type DocumentReference,
  type Firestore,
} from "firebase-admin/firestore";
import { z } from "zod";
import { RESOURCES, type ResourceName } from "../officernd/resources";
import type { OfficeRndRecord } from "../officernd/schemas";

/**
 * The Firestore document of a mirrored OfficeRnD record: /officeRndMembers/{_id},
 * /officeRndOpportunities/{_id}, … — the record exactly as OfficeRnD returns it, plus one field,
 * `_sync`, which every comparison ignores. Shared by the backup and the webhooks.
 */

export const SYNC_FIELD = "_sync";
export const SYNC_SOURCES = ["backup", "webhook"] as const;
export type SyncSource = (typeof SYNC_SOURCES)[number];

/**
 * The `_sync` field as read back. A record document whose `_sync` does not match is treated as
 * corrupted (rewritten by the next backup).
 */
export const syncInfoSchema = z.object({
  syncedAt: z.instanceof(Timestamp),
  source: z.enum(SYNC_SOURCES),
  /** Set when the record is gone from OfficeRnD and the orphan policy is `mark`. */
  removedAt: z.instanceof(Timestamp).nullable(),
});
export type SyncInfo = z.infer<typeof syncInfoSchema>;

export function recordRef(db: Firestore, resource: ResourceName, id: string): DocumentReference {
  return db.collection(RESOURCES[resource].collection).doc(id);
}

export function syncInfo(source: SyncSource, at: Date, removed = false): SyncInfo {
  const time = Timestamp.fromDate(at);
  return { syncedAt: time, source, removedAt: removed ? time : null };
}

/** The document stored for a record: every field as OfficeRnD sent it, plus `_sync`. */
export function recordDocument(record: OfficeRndRecord, sync: SyncInfo): DocumentData {
  return { ...record, [SYNC_FIELD]: { ...sync } };
}
