import {
  Timestamp,
  type DocumentSnapshot,
  type Firestore,
  type Transaction,
} from "firebase-admin/firestore";
import type { BackupConfig } from "../config";
import { SYNC_FIELD, syncInfoSchema } from "../mirror/record-document";
import { deleteRecordIn, markRecordRemovedIn, writeRecordIn } from "../mirror/record-writes";
import { findUnstorable, UnstorableRecordError } from "../mirror/storable";
import { recordRef } from "../mirror/record-document";
import { sameRecordContent } from "../mirror/record-hash";
import { recordVersion, type ResourceName } from "../officernd/resources";
import type { OfficeRndRecord } from "../officernd/schemas";
import {
  eventDocId,
  tombstoneSchema,
  WEBHOOK_EVENTS_COLLECTION,
  WEBHOOK_RETENTION_MS,
  WEBHOOK_TOMBSTONES_COLLECTION,
  type Tombstone,
  type WebhookEventDoc,
  type WebhookOutcome,
} from "./webhook-documents";
import type { WebhookChange, WebhookEnvelope } from "./payload";

/**
 * Applies one event to the mirror in one Firestore transaction: it reads the processed-event
 * marker, the record's document and its tombstone, decides, then writes the record (through the
 * backup's record writer: same document format, `_sync.source = "webhook"`) together with the
 * marker. So a redelivered event has no effect, an older event never overwrites newer data, and
 * when the transaction has committed the change is durable (the route answers 2xx only then).
 *
 * Order: OfficeRnD's `modifiedAt` (ISO 8601). An event older than the stored record is `stale`;
 * one with the same content is `unchanged`; with the same `modifiedAt` but other content it is
 * applied (OfficeRnD changed the record twice within its clock's resolution; the later delivery is
 * the better guess, and the next backup settles it). A record marked removed comes back only with
 * a later `modifiedAt`. A removal leaves a tombstone at the later of the removed object's
 * `modifiedAt` and the event's `createdAt`: created/updated events up to that time are stale.
 * Removals follow the backup's orphan policy (`mark`: `_sync.removedAt` set, content kept;
 * `delete`: the document deleted).
 *
 * Times that cannot be true are not trusted: whatever the mirror holds was modified in OfficeRnD
 * before it was stored, so a stored version (or a tombstone) counts as at most its write time plus
 * CLOCK_ALLOWANCE_MS. A future-dated record or removal (a wrong clock, or a document written
 * before event times were bounded) then holds back later events for minutes, not until its date.
 * A stored document without a version (left by an event that had none, before versions were
 * required) takes an event only when that event's version is after the document was stored:
 * anything earlier may be older than what it holds, and the next backup settles it.
 */

export interface ApplyOptions {
  orphanPolicy: BackupConfig["orphanPolicy"];
  now: Date;
}

export type ApplyResult =
  | { outcome: "duplicate" }
  | {
      outcome: WebhookOutcome;
      /** For removals that changed the mirror: how. */
      removal: "marked" | "deleted" | null;
    };

/**
 * How far OfficeRnD's clock may run ahead of ours, as the signature's default tolerance
 * (300 s, docs/webhooks.md) already assumes for the delivery's own timestamp.
 */
export const CLOCK_ALLOWANCE_MS = 5 * 60_000;

/** epoch ms of an ISO time, or null when absent or unparseable. */
export function versionOf(value: unknown): number | null {
  if (typeof value !== "string" || value === "") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

export function tombstoneId(resource: ResourceName, id: string): string {
  return `${resource}-${id}`;
}

interface Stored {
  exists: boolean;
  data: Record<string, unknown>;
  /** The record's version, at most its write time + CLOCK_ALLOWANCE_MS; null when it has none. */
  version: number | null;
  /** When the document was written (`_sync.syncedAt`, epoch ms), or null when unreadable. */
  syncedAt: number | null;
  removed: boolean;
  syncValid: boolean;
}

/** The stored document: its version (the resource's version field, from the registry), bounded. */
function stored(resource: ResourceName, snapshot: DocumentSnapshot): Stored {
  const data = snapshot.data() ?? {};
  const sync = syncInfoSchema.safeParse(data[SYNC_FIELD]);
  const syncedAt = sync.success ? sync.data.syncedAt.toMillis() : null;
  const version = recordVersion(resource, data);
  return {
    exists: snapshot.exists,
    data,
    version:
      version !== null && syncedAt !== null
        ? Math.min(version, syncedAt + CLOCK_ALLOWANCE_MS)
        : version,
    syncedAt,
    removed: sync.success && sync.data.removedAt !== null,
    syncValid: sync.success,
  };
}

/** The tombstone, its version bounded by when the removal was received. */
function readTombstone(snapshot: DocumentSnapshot): Tombstone | null {
  if (!snapshot.exists) return null;
  const parsed = tombstoneSchema.safeParse(snapshot.data());
  // An unreadable tombstone is ignored: the next backup corrects whatever it would have stopped.
  if (!parsed.success) return null;
  const latest = parsed.data.receivedAt.toMillis() + CLOCK_ALLOWANCE_MS;
  return { ...parsed.data, removedVersion: Math.min(parsed.data.removedVersion, latest) };
}

function decideUpsert(
  resource: ResourceName,
  record: OfficeRndRecord,
  doc: Stored,
  tombstone: Tombstone | null,
): "write" | "unchanged" | "stale" {
  const incoming = recordVersion(resource, record);
  if (tombstone !== null && (incoming === null || incoming <= tombstone.removedVersion)) {
    return "stale";
  }
  if (!doc.exists) return "write";
  if (doc.removed) {
    // Gone from OfficeRnD (a webhook or the backup said so): back only with a later version.
    return incoming !== null && doc.version !== null && incoming > doc.version ? "write" : "stale";
  }
  if (incoming !== null && doc.version !== null && incoming < doc.version) return "stale";
  if (incoming !== null && doc.version === null) {
    // Unversioned: only an event modified after the document was stored is surely newer.
    if (doc.syncedAt === null || incoming <= doc.syncedAt) return "stale";
  }
  if (sameRecordContent(doc.data, record)) return doc.syncValid ? "unchanged" : "write";
  return "write";
}

function decideRemove(
  doc: Stored,
  removedVersion: number,
  policy: ApplyOptions["orphanPolicy"],
): "mark" | "delete" | "unchanged" | "stale" {
  // The record changed in OfficeRnD after this removal (re-created under the same id).
  if (doc.exists && !doc.removed && doc.version !== null && doc.version > removedVersion) {
    return "stale";
  }
  if (!doc.exists) return "unchanged";
  if (policy === "delete") return "delete";
  return doc.removed ? "unchanged" : "mark";
}

/**
 * Applies the change. Throws UnstorableRecordError (before any Firestore call) for a record
 * Firestore cannot store, and Firestore's errors when the transaction could not commit.
 */
export async function applyWebhookEvent(
  db: Firestore,
  envelope: WebhookEnvelope,
  change: WebhookChange,
  options: ApplyOptions,
): Promise<ApplyResult> {
  if (change.kind === "upsert") {
    const problem = findUnstorable(change.resource, change.record);
    if (problem !== null) {
      throw new UnstorableRecordError(change.resource, change.record._id, problem);
    }
  }
  const now = Timestamp.fromDate(options.now);
  const expireAt = Timestamp.fromMillis(options.now.getTime() + WEBHOOK_RETENTION_MS);
  const eventRef = db.collection(WEBHOOK_EVENTS_COLLECTION).doc(eventDocId(envelope.event));
  const context = { source: "webhook" as const, now: options.now };

  const marker = (
    outcome: WebhookOutcome,
    resource: ResourceName | null,
    recordId: string | null,
  ): WebhookEventDoc => ({
    eventId: envelope.event,
    eventType: envelope.eventType,
    resource,
    recordId,
    outcome,
    receivedAt: now,
    createdAt: envelope.createdAt,
    expireAt,
  });

  return db.runTransaction(async (tx: Transaction): Promise<ApplyResult> => {
    if (change.kind === "ignored") {
      const seen = await tx.get(eventRef);
      if (seen.exists) return { outcome: "duplicate" };
      tx.create(eventRef, marker("ignored", null, null));
      return { outcome: "ignored", removal: null };
    }

    const id = change.kind === "upsert" ? change.record._id : change.id;
    const docRef = recordRef(db, change.resource, id);
    const tombRef = db
      .collection(WEBHOOK_TOMBSTONES_COLLECTION)
      .doc(tombstoneId(change.resource, id));
    const [seen, docSnap, tombSnap] = await tx.getAll(eventRef, docRef, tombRef);
    if (!seen || !docSnap || !tombSnap) throw new Error("getAll returned fewer documents");
    if (seen.exists) return { outcome: "duplicate" };
    const doc = stored(change.resource, docSnap);
    const tombstone = readTombstone(tombSnap);

    if (change.kind === "upsert") {
      const decision = decideUpsert(change.resource, change.record, doc, tombstone);
      if (decision === "write") writeRecordIn(tx, db, change.resource, change.record, context);
      const outcome = decision === "write" ? "applied" : decision;
      tx.create(eventRef, marker(outcome, change.resource, id));
      return { outcome, removal: null };
    }

    // The removal's time: createdAt always parses (the envelope schema checks it). Never later
    // than now (+ the allowance): a removal cannot have happened after it was delivered.
    const removedVersion = Math.min(
      Math.max(
        versionOf(change.modifiedAt) ?? Number.NEGATIVE_INFINITY,
        versionOf(envelope.createdAt) ?? options.now.getTime(),
      ),
      options.now.getTime() + CLOCK_ALLOWANCE_MS,
    );
    const decision = decideRemove(doc, removedVersion, options.orphanPolicy);
    if (decision === "mark") markRecordRemovedIn(tx, db, change.resource, id, context);
    if (decision === "delete") deleteRecordIn(tx, db, change.resource, id);
    if (decision !== "stale" && (tombstone === null || tombstone.removedVersion < removedVersion)) {
      const next: Tombstone = {
        resource: change.resource,
        recordId: id,
        eventId: envelope.event,
        removedVersion,
        receivedAt: now,
        expireAt,
      };
      tx.set(tombRef, next);
    }
    const outcome: WebhookOutcome =
      decision === "mark" || decision === "delete" ? "applied" : decision;
    tx.create(eventRef, marker(outcome, change.resource, id));
    return {
      outcome,
      removal: decision === "mark" ? "marked" : decision === "delete" ? "deleted" : null,
    };
  });
}
