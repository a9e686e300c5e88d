import { Timestamp, type DocumentReference, type Firestore } from "firebase-admin/firestore";
import { LOCK_DOC, lockSchema, type BackupLock, type BackupTrigger } from "./documents";
import { METADATA_COLLECTION } from "../mirror/collections";

/**
 * The lease that keeps two runs (scheduled, manual, CLI) from syncing at once:
 * /officeRndMetadata/backup-lock = {runId, trigger, acquiredAt, expiresAt}.
 *
 * - Taken in a transaction: free, expired, malformed or already ours -> take it; else busy.
 * - The holder renews it while it runs (the engine every TTL/3), so a long run keeps it and a
 *   crashed or killed run blocks others for at most one TTL after its last renewal.
 * - Released (deleted) by its holder only: a run whose lease expired and was taken over cannot
 *   release the new holder's lease.
 *
 * Choose the function timeout below the TTL (15 minutes by default, `lockTtlMs` to change): then
 * even a run whose renewals fail (Firestore hiccups) cannot lose its lease before the platform
 * stops it. The CLI has no timeout; its renewals keep the lease for as long as it runs.
 * Times come from the caller's clock (one clock per run; tests move it forward).
 */

export const LOCK_TTL_MS = 15 * 60_000;

export function lockRef(db: Firestore): DocumentReference {
  return db.collection(METADATA_COLLECTION).doc(LOCK_DOC);
}

export interface LeaseRequest {
  runId: string;
  trigger: BackupTrigger;
  now: Date;
  ttlMs?: number;
}

export type LockAttempt =
  | { acquired: true; lock: BackupLock }
  | { acquired: false; heldBy: string; trigger: BackupTrigger; expiresAt: Date };

function parseLock(data: unknown): BackupLock | null {
  const parsed = lockSchema.safeParse(data);
  return parsed.success ? parsed.data : null;
}

export async function acquireBackupLock(
  db: Firestore,
  request: LeaseRequest,
): Promise<LockAttempt> {
  const ref = lockRef(db);
  const ttl = request.ttlMs ?? LOCK_TTL_MS;
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const current = snap.exists ? parseLock(snap.data()) : null;
    if (
      current !== null &&
      current.runId !== request.runId &&
      current.expiresAt.toMillis() > request.now.getTime()
    ) {
      return {
        acquired: false as const,
        heldBy: current.runId,
        trigger: current.trigger,
        expiresAt: current.expiresAt.toDate(),
      };
    }
    const lock: BackupLock = {
      runId: request.runId,
      trigger: request.trigger,
      acquiredAt: Timestamp.fromDate(request.now),
      expiresAt: Timestamp.fromMillis(request.now.getTime() + ttl),
    };
    tx.set(ref, lock);
    return { acquired: true as const, lock };
  });
}

/** Extends the holder's lease. False when the lease is no longer this run's (taken over). */
export async function renewBackupLock(
  db: Firestore,
  runId: string,
  now: Date,
  ttlMs: number = LOCK_TTL_MS,
): Promise<boolean> {
  const ref = lockRef(db);
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const current = snap.exists ? parseLock(snap.data()) : null;
    if (current === null || current.runId !== runId) return false;
    tx.update(ref, { expiresAt: Timestamp.fromMillis(now.getTime() + ttlMs) });
    return true;
  });
}

/** A held lease kept alive while a run lasts. */
export interface LeaseHeartbeat {
  /** The lease was found taken over: the run must stop writing. */
  readonly lost: boolean;
  stop(): void;
}

/** Renews the run's lease every third of its length until stopped; notices a takeover. */
export function keepLeaseAlive(
  db: Firestore,
  runId: string,
  now: () => Date,
  ttlMs: number = LOCK_TTL_MS,
): LeaseHeartbeat {
  let lost = false;
  const timer = setInterval(
    () => {
      renewBackupLock(db, runId, now(), ttlMs).then(
        (held) => {
          if (!held) lost = true;
        },
        () => undefined, // transient: the next beat tries again
      );
    },
    Math.max(1000, Math.floor(ttlMs / 3)),
  );
  timer.unref();
  return {
    get lost() {
      return lost;
    },
    stop: () => clearInterval(timer),
  };
}

/** Deletes the lease if this run holds it. False when it held nothing. */
export async function releaseBackupLock(db: Firestore, runId: string): Promise<boolean> {
  const ref = lockRef(db);
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const current = snap.exists ? parseLock(snap.data()) : null;
    if (current === null || current.runId !== runId) return false;
    tx.delete(ref);
    return true;
  });
}

/** The lease if a run holds it at `now`; null when free or expired. */
export async function readBackupLock(db: Firestore, now: Date): Promise<BackupLock | null> {
  const snap = await lockRef(db).get();
  const current = snap.exists ? parseLock(snap.data()) : null;
  return current !== null && current.expiresAt.toMillis() > now.getTime() ? current : null;
}
