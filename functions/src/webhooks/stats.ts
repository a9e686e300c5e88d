import { FieldValue, Timestamp, type Firestore } from "firebase-admin/firestore";
import { within } from "../mirror/deadline";
import { METADATA_COLLECTION } from "../mirror/collections";
import { logs } from "../logs";
import {
  statsTypeKey,
  WEBHOOK_EVENTS_COLLECTION,
  WEBHOOK_STATS_DOC,
  webhookStatsSchema,
  type RejectionReason,
  type WebhookStats,
} from "./webhook-documents";

/**
 * Delivery counters in /officeRndMetadata/webhook-stats, kept with FieldValue.increment outside
 * the event's transaction: they are monitoring, not data, so they never make a delivery fail or
 * contend with record writes. A counter write that fails is logged and skipped (the processed-
 * event markers, written with the records, remain the exact record of what was applied).
 */

function statsRef(db: Firestore) {
  return db.collection(METADATA_COLLECTION).doc(WEBHOOK_STATS_DOC);
}

/** Counters wait at most this long (the answer to OfficeRnD waits for them). */
const STATS_TIMEOUT_MS = 5_000;

async function bestEffort(what: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await within(write(), STATS_TIMEOUT_MS);
  } catch (error) {
    logs.webhookStatsFailed({
      what,
      error: error instanceof Error ? error.message.slice(0, 300) : "non-Error thrown",
    });
  }
}

/** An authenticated, well-formed delivery (a redelivery included). */
export function countDelivery(
  db: Firestore,
  delivery: { eventType: string; duplicate: boolean; at: Date },
): Promise<void> {
  // set() with merge takes map keys literally, so `member.updated` is one key of `byType`.
  return bestEffort("delivery", () =>
    statsRef(db).set(
      {
        lastReceivedAt: Timestamp.fromDate(delivery.at),
        received: FieldValue.increment(1),
        ...(delivery.duplicate ? { duplicates: FieldValue.increment(1) } : {}),
        byType: { [statsTypeKey(delivery.eventType)]: FieldValue.increment(1) },
      },
      { merge: true },
    ),
  );
}

interface PendingRejections {
  total: number;
  byReason: Map<RejectionReason, number>;
  lastAt: Date | null;
  lastFlush: number;
  flushing: boolean;
}

const pendingByDb = new WeakMap<Firestore, PendingRejections>();

/**
 * A refused delivery. Anyone can POST to the public URL, and every count is a write to one
 * document (which Firestore sustains at about one write a second): so this instance writes at
 * most one update every `flushEveryMs`, carrying every rejection counted since the last one. The
 * first rejection after a quiet period is written at once.
 */
export async function countRejection(
  db: Firestore,
  rejection: { reason: RejectionReason; at: Date },
  flushEveryMs = 2_000,
): Promise<void> {
  let pending = pendingByDb.get(db);
  if (!pending) {
    pending = { total: 0, byReason: new Map(), lastAt: null, lastFlush: 0, flushing: false };
    pendingByDb.set(db, pending);
  }
  pending.total += 1;
  pending.byReason.set(rejection.reason, (pending.byReason.get(rejection.reason) ?? 0) + 1);
  pending.lastAt = rejection.at;
  if (pending.flushing || Date.now() - pending.lastFlush < flushEveryMs) return;

  const { total, byReason, lastAt } = pending;
  pending.total = 0;
  pending.byReason = new Map();
  pending.flushing = true;
  pending.lastFlush = Date.now();
  const state = pending;
  try {
    await bestEffort("rejection", () =>
      statsRef(db).set(
        {
          lastRejectedAt: Timestamp.fromDate(lastAt ?? rejection.at),
          rejected: FieldValue.increment(total),
          rejectedByReason: Object.fromEntries(
            [...byReason].map(([reason, n]) => [reason, FieldValue.increment(n)]),
          ),
        },
        { merge: true },
      ),
    );
  } finally {
    state.flushing = false;
  }
}

/** The stats document, or null when there is none (or it does not match its schema: logged). */
export async function readWebhookStats(db: Firestore): Promise<WebhookStats | null> {
  const snapshot = await statsRef(db).get();
  if (!snapshot.exists) return null;
  const parsed = webhookStatsSchema.safeParse(snapshot.data());
  if (!parsed.success) {
    logs.statusDocumentInvalid({
      path: snapshot.ref.path,
      issues: parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.map(String).join(".")}: ${i.message}`)
        .join("; "),
    });
    return null;
  }
  return parsed.data;
}

/**
 * Distinct events processed since `since` (all retained ones when null), by a count aggregation
 * over the processed-event markers (kept for WEBHOOK_RETENTION_MS).
 */
export async function countEventsSince(db: Firestore, since: Date | null): Promise<number> {
  const events = db.collection(WEBHOOK_EVENTS_COLLECTION);
  const query =
    since === null ? events : events.where("receivedAt", ">=", Timestamp.fromDate(since));
  const snapshot = await query.count().get();
  return snapshot.data().count;
}
