import { createHash } from "node:crypto";
import { Timestamp } from "firebase-admin/firestore";
import { z } from "zod";
import { RESOURCE_NAMES } from "../officernd/resources";

/**
 * Firestore documents of the webhook path (besides the mirrored records, which are the backup's
 * format: ../backup/documents.ts). Only the Admin SDK reads or writes them (firestore.rules).
 */

/**
 * /officeRndWebhookEvents/{eventDocId}: one per distinct event processed, written in the same
 * transaction as its record write, so a redelivery finds it and has no effect. Deleted by a
 * Firestore TTL policy on `expireAt` (docs/webhooks.md).
 */
export const WEBHOOK_EVENTS_COLLECTION = "officeRndWebhookEvents";

/**
 * /officeRndWebhookTombstones/{resource}-{recordId}: when OfficeRnD said a record was removed, so
 * a created/updated event older than the removal (delivered late) cannot bring it back, whatever
 * the orphan policy left in the mirror. Same TTL policy.
 */
export const WEBHOOK_TOMBSTONES_COLLECTION = "officeRndWebhookTombstones";

/** /officeRndMetadata/webhook-stats: delivery counters for the status response. */
export const WEBHOOK_STATS_DOC = "webhook-stats";

/** The field the TTL policies of both collections use. */
export const TTL_FIELD = "expireAt";

/**
 * How long processed event ids and tombstones are kept: longer than OfficeRnD's redelivery of a
 * failed event and than the interval between backups (`receivedSinceLastBackup` counts these).
 */
export const WEBHOOK_RETENTION_MS = 7 * 24 * 3_600_000;

/** What handling an event did to the mirror. */
export const WEBHOOK_OUTCOMES = [
  /** The record document was created, replaced, marked removed or deleted. */
  "applied",
  /** The mirror already held this (same content, already removed, nothing to remove). */
  "unchanged",
  /** Older than what the mirror holds (or the record was removed after it): nothing written. */
  "stale",
  /** An event type the mirror does not follow: acknowledged, nothing written. */
  "ignored",
] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

const timestamp = z.instanceof(Timestamp);
const count = z.number().int().min(0);

export const webhookEventDocSchema = z.object({
  eventId: z.string(),
  eventType: z.string(),
  resource: z.enum(RESOURCE_NAMES).nullable(),
  recordId: z.string().nullable(),
  outcome: z.enum(WEBHOOK_OUTCOMES),
  /** When this product processed it (the status counts these since the latest backup). */
  receivedAt: timestamp,
  /** The event's `createdAt`, as OfficeRnD sent it. */
  createdAt: z.string(),
  [TTL_FIELD]: timestamp,
});
export type WebhookEventDoc = z.infer<typeof webhookEventDocSchema>;

export const tombstoneSchema = z.object({
  resource: z.enum(RESOURCE_NAMES),
  recordId: z.string(),
  eventId: z.string(),
  /**
   * The removal's place in OfficeRnD's time (the later of the removed object's `modifiedAt` and
   * the event's `createdAt`, at most `receivedAt` + the clock allowance: webhooks/apply.ts),
   * epoch ms: versions up to it are older than the removal.
   */
  removedVersion: z.number(),
  receivedAt: timestamp,
  [TTL_FIELD]: timestamp,
});
export type Tombstone = z.infer<typeof tombstoneSchema>;

/** Rejection reasons, as counted and logged (fixed codes, never what the caller sent). */
export const REJECTION_REASONS = [
  "missing_signature",
  "malformed_signature",
  "bad_signature",
  "stale_timestamp",
  "payload_too_large",
  "unreadable_body",
  "invalid_payload",
  /** An event time that orders the mirror is too far in the future (webhooks/payload.ts). */
  "time_out_of_range",
  "unstorable_record",
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/**
 * The stats document. Counters start at 0 when absent (FieldValue.increment creates them).
 * `byType` counts authenticated deliveries (redeliveries included) per event type.
 */
export const webhookStatsSchema = z.object({
  lastReceivedAt: timestamp.nullable().default(null),
  received: count.default(0),
  duplicates: count.default(0),
  byType: z.record(z.string(), count).default({}),
  rejected: count.default(0),
  lastRejectedAt: timestamp.nullable().default(null),
  rejectedByReason: z.record(z.string(), count).default({}),
});
export type WebhookStats = z.infer<typeof webhookStatsSchema>;

/** Event ids usable as document ids as they are; anything else is hashed (see eventDocId). */
const PLAIN_ID = /^[A-Za-z0-9_-]{1,128}$/;
/**
 * Ids Firestore reserves (its limits on document ids: `__.*__`). A write under one fails with
 * INVALID_ARGUMENT every time, so the delivery would answer 503 and be redelivered forever.
 */
const RESERVED_ID = /^__.*__$/;

/**
 * The document id of an event: the id itself when it is plain (OfficeRnD's are 24-hex), else
 * `~` + its SHA-256 (no `/`, no `__x__`, bounded length; `~` keeps the two forms apart).
 */
export function eventDocId(eventId: string): string {
  if (PLAIN_ID.test(eventId) && !RESERVED_ID.test(eventId)) return eventId;
  return `~${createHash("sha256").update(eventId, "utf8").digest("base64url")}`;
}

/** The key an event type is counted under in `byType` (a Firestore field name: bounded, safe). */
export function statsTypeKey(eventType: string): string {
  return /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(eventType) ? eventType : "other";
}
