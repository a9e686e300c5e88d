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
  /** Date.now() of the latest write's start. */
  lastFlush: number;
  /** The write in progress, if any. */
  flushing: Promise<void> | null;
  /** The trailing write, when one is due. */
  timer: NodeJS.Timeout | null;
}

const pendingByDb = new WeakMap<Firestore, PendingRejections>();

/**
 * A refused delivery. Anyone can POST to the public URL, and every count is a write to one
 * document (which Firestore sustains at about one write a second): so this instance writes at
 * most one update every `flushEveryMs`, carrying every rejection counted since the last one. The
 * first rejection after a quiet period is written at once; those counted after it are written by
 * a trailing timer once the interval has passed, so the status shows a flood while it lasts, not
 * when the next refusal happens to arrive. The timer is unref'd: it never keeps a process (the CLI's
 * `serve`, a test) alive; in Cloud Functions, where the CPU is throttled between requests, it may
 * fire late, never with fewer counts.
 */
export async function countRejection(
  db: Firestore,
  rejection: { reason: RejectionReason; at: Date },
  flushEveryMs = 2_000,
): Promise<void> {
  let pending = pendingByDb.get(db);
  if (!pending) {
    pending = {
      total: 0,
      byReason: new Map(),
      lastAt: null,
      lastFlush: 0,
      flushing: null,
      timer: null,
    };
    pendingByDb.set(db, pending);
  }
  pending.total += 1;
  pending.byReason.set(rejection.reason, (pending.byReason.get(rejection.reason) ?? 0) + 1);
  pending.lastAt = rejection.at;
  if (pending.flushing === null && Date.now() - pending.lastFlush >= flushEveryMs) {
    await flushRejections(db, pending);
    return;
  }
  scheduleTrailingFlush(db, pending, flushEveryMs);
}

/** One write carrying every rejection counted since the last. */
async function flushRejections(db: Firestore, state: PendingRejections): Promise<void> {
  if (state.timer !== null) {
    clearTimeout(state.timer);
    state.timer = null;
  }
  const { total, byReason, lastAt } = state;
  if (total === 0 || lastAt === null) return;
  state.total = 0;
  state.byReason = new Map();
  state.lastFlush = Date.now();
  const write = bestEffort("rejection", () =>
    statsRef(db).set(
      {
        lastRejectedAt: Timestamp.fromDate(lastAt),
        rejected: FieldValue.increment(total),
        rejectedByReason: Object.fromEntries(
          [...byReason].map(([reason, n]) => [reason, FieldValue.increment(n)]),
        ),
      },
      { merge: true },
    ),
  );
  state.flushing = write;
  try {
    await write;
  } finally {
    state.flushing = null;
  }
}

/** Writes what is pending once the interval since the last write has passed (one timer at most). */
function scheduleTrailingFlush(db: Firestore, state: PendingRejections, flushEveryMs: number) {
  if (state.timer !== null) return;
  const delay = Math.max(state.lastFlush + flushEveryMs - Date.now(), 0);
  state.timer = setTimeout(() => {
    state.timer = null;
    void (async () => {
      // A write still in progress finishes first; then what came in meanwhile is due.
      await state.flushing;
      if (state.flushing !== null) {
        scheduleTrailingFlush(db, state, flushEveryMs);
        return;
      }
      if (Date.now() - state.lastFlush < flushEveryMs) {
        scheduleTrailingFlush(db, state, flushEveryMs);
        return;
      }
      await flushRejections(db, state);
    })();
  }, delay);
  state.timer.unref();
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
