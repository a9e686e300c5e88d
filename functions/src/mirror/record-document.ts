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

/**
 * The one form of a record id in the mirror: lower case. OfficeRnD's ids are Mongo ObjectIds (24
 * hex, docs/officernd-api.md), and hex is case-insensitive, but Firestore document ids are not:
 * `5C43…` and `5c43…` would be two documents for one record. Every path that turns an OfficeRnD
 * id into a document id (the webhooks' events, the backup's listings) passes it through this,
 * before comparing or writing, so both see the same id.
 */
export function normalizeRecordId(id: string): string {
  return id.toLowerCase();
}

/**
 * The record with its `_id` in the mirror's form (the same object when it already is), so the
 * stored `_id` field always equals the document id. Key order is kept.
 */
export function withNormalizedId<T extends { _id: string }>(record: T): T {
  const id = normalizeRecordId(record._id);
  return id === record._id ? record : { ...record, _id: id };
}

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
