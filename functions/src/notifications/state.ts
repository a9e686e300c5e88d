import { Timestamp, type DocumentReference, type Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import { METADATA_COLLECTION } from "../mirror/collections";
import { NOTIFIED_CONDITIONS } from "./conditions";
import type { ChannelMemory } from "./decide";

/**
 * /officeRndMetadata/backup-notifications: what each channel was last told, and a short lease so
 * two checks (the end of a run and the hourly check) never send the same message twice.
 */

export const NOTIFICATIONS_DOC = "backup-notifications";
export const CHANNELS = ["slack", "email"] as const;
export type Channel = (typeof CHANNELS)[number];

/**
 * Longer than one check can take (a Slack request is bounded at 10 s, the rest is a few Firestore
 * calls); a check that dies keeps the others out only this long.
 */
export const CHECK_LEASE_MS = 60_000;

const timestamp = z.instanceof(Timestamp);

const channelStateSchema = z.object({
  open: z.array(z.enum(NOTIFIED_CONDITIONS)),
  lastSentAt: timestamp.nullable(),
  /** The latest delivery that failed, and how many in a row; cleared by a delivery. */
  lastError: z.string().nullable().default(null),
  failures: z.number().int().min(0).default(0),
  lastAttemptAt: timestamp.nullable().default(null),
});
export type ChannelState = z.infer<typeof channelStateSchema>;

const stateSchema = z.object({
  channels: z.partialRecord(z.enum(CHANNELS), channelStateSchema).default({}),
  lease: z.object({ holder: z.string(), expiresAt: timestamp }).nullable().default(null),
});
type StateDoc = z.infer<typeof stateSchema>;

export function notificationsRef(db: Firestore): DocumentReference {
  return db.collection(METADATA_COLLECTION).doc(NOTIFICATIONS_DOC);
}

export function memoryOf(state: ChannelState | undefined): ChannelMemory {
  if (!state) return { open: [], lastSentAt: null };
  return { open: state.open, lastSentAt: state.lastSentAt?.toDate() ?? null };
}

/**
 * Takes the lease and returns what each channel was told; null when another check holds it. A
 * document that does not match the schema counts as empty (the worst case is one message
 * repeated), so a bad edit by hand cannot stop the notifications.
 */
export async function claimCheck(
  db: Firestore,
  holder: string,
  now: Date,
): Promise<Partial<Record<Channel, ChannelState>> | null> {
  const ref = notificationsRef(db);
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const parsed = stateSchema.safeParse(snap.data() ?? {});
    const state: StateDoc = parsed.success ? parsed.data : { channels: {}, lease: null };
    if (state.lease && state.lease.expiresAt.toMillis() > now.getTime()) return null;
    const lease = { holder, expiresAt: Timestamp.fromMillis(now.getTime() + CHECK_LEASE_MS) };
    tx.set(ref, { channels: state.channels, lease, updatedAt: Timestamp.fromDate(now) });
    return state.channels;
  });
}

/**
 * Stores what the channels were told (only those given) and lets the lease go. When the lease
 * was taken over meanwhile (this check outlived it), nothing is written: the newer check's view
 * stands, and at worst a message is repeated.
 */
export async function settleCheck(
  db: Firestore,
  holder: string,
  updates: Partial<Record<Channel, ChannelState>>,
  now: Date,
): Promise<boolean> {
  const ref = notificationsRef(db);
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const parsed = stateSchema.safeParse(snap.data() ?? {});
    if (!parsed.success || parsed.data.lease?.holder !== holder) return false;
    tx.set(ref, {
      channels: { ...parsed.data.channels, ...updates },
      lease: null,
      updatedAt: Timestamp.fromDate(now),
    });
    return true;
  });
}

/** After a delivery. */
export function delivered(open: readonly string[], now: Date): ChannelState {
  return {
    open: NOTIFIED_CONDITIONS.filter((c) => open.includes(c)),
    lastSentAt: Timestamp.fromDate(now),
    lastError: null,
    failures: 0,
    lastAttemptAt: Timestamp.fromDate(now),
  };
}

/** After a failed delivery: what the channel knows is unchanged, so the next check retries. */
export function failed(previous: ChannelState | undefined, error: string, now: Date): ChannelState {
  return {
    open: previous?.open ?? [],
    lastSentAt: previous?.lastSentAt ?? null,
    lastError: error,
    failures: (previous?.failures ?? 0) + 1,
    lastAttemptAt: Timestamp.fromDate(now),
  };
}
