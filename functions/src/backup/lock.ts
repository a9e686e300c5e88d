import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Timestamp, type DocumentReference, type Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import { logs } from "../logs";
import { METADATA_COLLECTION } from "../mirror/collections";
import { FirestoreTimeoutError, within } from "../mirror/deadline";
import { LOCK_DOC, lockSchema, type BackupLock, type BackupTrigger } from "./documents";

/**
 * The lease that keeps two runs (scheduled, manual, CLI) from syncing at once:
 * /officeRndMetadata/backup-lock = {runId, trigger, token, acquiredAt, renewedAt, expiresAt}.
 *
 * A short lease kept alive by a heartbeat, as Kubernetes leader election does, so that a run
 * killed by SIGKILL, OOM or its function's timeout blocks others for seconds, not minutes:
 * - Each attempt holds it with a token of its own: Cloud Tasks may deliver one task twice, and
 *   both deliveries carry the same run id. Renewing and releasing check the token.
 * - The holder renews it every RETRY_PERIOD_MS; a holder that has not renewed within
 *   RENEW_DEADLINE_MS stops writing (`lost`), LEASE_DURATION_MS - RENEW_DEADLINE_MS before anyone
 *   may take the lease over.
 * - A run that finds the lease held answers busy at once when it was renewed within the last
 *   one and a half retry periods (its holder's heartbeat is beating), or when it expires further
 *   out than a lease (an older release's 15-minute lease, a longer `ttlMs`). Otherwise the
 *   heartbeat may have stopped, and the run watches the lease: renewed, replaced or released
 *   means its holder is alive (busy); left unchanged until it lapses means the holder died, and
 *   the run takes it over. The wait is bounded by one lease.
 * Times written into the lease come from the run's clock (tests move it); waiting and the renew
 * deadline use the monotonic clock, so a frozen or skewed clock cannot make a live holder lose
 * its lease: at worst a waiting run watches a live lease until its next renewal.
 */

/**
 * How long a lease lasts without renewal (Kubernetes' LeaseDuration, 15 s): the longest a killed
 * run blocks the next one after its last renewal.
 */
export const LEASE_DURATION_MS = 15_000;
/**
 * How long a holder may go without renewing before it stops writing (Kubernetes' RenewDeadline,
 * 10 s): 5 s before anyone may take the lease over, time for the chunk in flight to end.
 */
export const RENEW_DEADLINE_MS = 10_000;
/**
 * How often the holder renews and a waiting run looks again (Kubernetes' RetryPeriod, 2 s): five
 * tries fit in the renew deadline, so one slow answer does not stop a run.
 */
export const RETRY_PERIOD_MS = 2_000;
/** The lease length (kept for callers of the old name). */
export const LOCK_TTL_MS = LEASE_DURATION_MS;

export interface LeaseTiming {
  durationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** The three durations for a lease of `durationMs`, in Kubernetes' proportions (15 : 10 : 2). */
export function leaseTiming(durationMs: number = LEASE_DURATION_MS): LeaseTiming {
  return {
    durationMs,
    renewDeadlineMs: Math.round((durationMs * RENEW_DEADLINE_MS) / LEASE_DURATION_MS),
    retryPeriodMs: Math.max(50, Math.round((durationMs * RETRY_PERIOD_MS) / LEASE_DURATION_MS)),
  };
}

/** One attempt of one run: the run id (shared by a task's duplicate deliveries) and its token. */
export interface LeaseHolder {
  runId: string;
  token: string;
}

export function newLeaseHolder(runId: string): LeaseHolder {
  return { runId, token: randomUUID() };
}

export function lockRef(db: Firestore): DocumentReference {
  return db.collection(METADATA_COLLECTION).doc(LOCK_DOC);
}

/** The stored lease: the status schema plus the fields only the engine reads. */
const leaseSchema = lockSchema.extend({
  /** Absent in leases written by older releases: they match no attempt. */
  token: z.string().nullable().default(null),
  renewedAt: z.instanceof(Timestamp).nullable().default(null),
});
type StoredLease = z.infer<typeof leaseSchema>;

function parseLease(data: unknown): StoredLease | null {
  const parsed = leaseSchema.safeParse(data);
  return parsed.success ? parsed.data : null;
}

/** Changes whenever the holder renews or another attempt takes the lease. */
function leaseVersion(lease: StoredLease): string {
  return `${lease.runId}/${lease.token ?? "-"}/${lease.expiresAt.toMillis()}`;
}

function ownedBy(lease: StoredLease, holder: LeaseHolder | string): boolean {
  if (typeof holder === "string") return lease.runId === holder;
  return lease.runId === holder.runId && lease.token === holder.token;
}

export interface LeaseRequest {
  runId: string;
  trigger: BackupTrigger;
  now: Date;
  ttlMs?: number;
  /** This attempt's token; a new one when absent. */
  token?: string;
}

export type LockAttempt =
  | { acquired: true; lock: BackupLock; holder: LeaseHolder }
  | { acquired: false; heldBy: string; trigger: BackupTrigger; expiresAt: Date };

type TakeResult =
  | { acquired: true; lock: BackupLock; holder: LeaseHolder }
  | { acquired: false; held: StoredLease | null };

/**
 * One transaction: takes the lease when it is free, malformed, expired or this attempt's own;
 * while watching (`watched`), also when it is still exactly the version seen a lease ago
 * (`lapsed`), and not when it is gone (its holder finished: busy, `held` null).
 */
async function tryTake(
  db: Firestore,
  request: LeaseRequest & { token: string },
  watched: { version: string; lapsed: boolean } | null,
): Promise<TakeResult> {
  const ref = lockRef(db);
  const now = request.now.getTime();
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    if (!snap.exists && watched !== null) return { acquired: false as const, held: null };
    const current = snap.exists ? parseLease(snap.data()) : null;
    const free =
      current === null ||
      current.token === request.token ||
      current.expiresAt.toMillis() <= now ||
      (watched?.lapsed === true && leaseVersion(current) === watched.version);
    if (!free) return { acquired: false as const, held: current };
    const at = Timestamp.fromMillis(now);
    const lease = {
      runId: request.runId,
      trigger: request.trigger,
      token: request.token,
      acquiredAt: at,
      renewedAt: at,
      expiresAt: Timestamp.fromMillis(now + (request.ttlMs ?? LEASE_DURATION_MS)),
    };
    tx.set(ref, lease);
    const { token: _token, renewedAt: _renewedAt, ...lock } = lease;
    return {
      acquired: true as const,
      lock,
      holder: { runId: request.runId, token: request.token },
    };
  });
}

function busy(lease: StoredLease): LockAttempt {
  return {
    acquired: false,
    heldBy: lease.runId,
    trigger: lease.trigger,
    expiresAt: lease.expiresAt.toDate(),
  };
}

/** One look: the lease if it is free (or this attempt's), else who holds it. Never waits. */
export async function acquireBackupLock(
  db: Firestore,
  request: LeaseRequest,
): Promise<LockAttempt> {
  const result = await tryTake(db, { ...request, token: request.token ?? randomUUID() }, null);
  if (result.acquired) return result;
  if (result.held === null) throw new Error("unreachable: a free lease is taken");
  return busy(result.held);
}

export interface TakeLeaseRequest {
  runId: string;
  trigger: BackupTrigger;
  /** The run's clock. */
  now: () => Date;
  timing: LeaseTiming;
  /** Longest wait for one transaction (a FirestoreTimeoutError past it). */
  stepTimeoutMs: number;
}

/**
 * Takes the lease for a new attempt; when another attempt holds it, watches it (see the top of
 * this file) and either takes it over once it has lapsed or answers who holds it.
 */
export async function takeBackupLease(
  db: Firestore,
  request: TakeLeaseRequest,
): Promise<LockAttempt> {
  const { timing } = request;
  const token = randomUUID();
  let seen: { version: string; at: number; lease: StoredLease } | null = null;
  for (;;) {
    const now = request.now();
    const lapsed = seen !== null && performance.now() - seen.at >= timing.durationMs;
    const watched = seen && { version: seen.version, lapsed };
    const pending = tryTake(db, { ...request, now, ttlMs: timing.durationMs, token }, watched);
    let result: TakeResult;
    try {
      result = await within(pending, request.stepTimeoutMs);
    } catch (error) {
      // Should Firestore answer after all, give the lease back: no run will hold it.
      if (error instanceof FirestoreTimeoutError) {
        pending
          .then((late) => (late.acquired ? releaseBackupLock(db, late.holder) : false))
          .catch(() => false);
      }
      throw error;
    }
    if (result.acquired) {
      if (seen !== null) {
        logs.backupLockTakenOver({
          runId: request.runId,
          previousRunId: seen.lease.runId,
          waitedMs: Math.round(performance.now() - seen.at),
        });
      }
      return result;
    }
    const held = result.held;
    if (held === null) {
      // Gone while watched: its holder finished and released it.
      if (seen === null) throw new Error("unreachable: only a watched lease can be gone");
      return busy(seen.lease);
    }
    const version = leaseVersion(held);
    if (seen === null) {
      const remainingMs = held.expiresAt.toMillis() - now.getTime();
      if (remainingMs > timing.durationMs + timing.retryPeriodMs) return busy(held);
      const renewedAt = (held.renewedAt ?? held.acquiredAt).toMillis();
      // A holder renews every retry period; half a period more covers its renewal's latency.
      if (now.getTime() - renewedAt <= timing.retryPeriodMs * 1.5) return busy(held);
      seen = { version, at: performance.now(), lease: held };
      logs.backupLockWaiting({
        runId: request.runId,
        heldBy: held.runId,
        expiresAt: held.expiresAt.toDate().toISOString(),
      });
    } else if (version !== seen.version) {
      return busy(held); // renewed or taken by another attempt: its holder is alive
    }
    await sleep(timing.retryPeriodMs);
  }
}

/**
 * Extends the holder's lease. False when the lease is no longer this attempt's (taken over).
 * A run id alone (a string) matches any attempt of that run: prefer the holder.
 */
export async function renewBackupLock(
  db: Firestore,
  holder: LeaseHolder | string,
  now: Date,
  ttlMs: number = LEASE_DURATION_MS,
): Promise<boolean> {
  const ref = lockRef(db);
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const current = snap.exists ? parseLease(snap.data()) : null;
    if (current === null || !ownedBy(current, holder)) return false;
    tx.update(ref, {
      renewedAt: Timestamp.fromDate(now),
      expiresAt: Timestamp.fromMillis(now.getTime() + ttlMs),
    });
    return true;
  });
}

/** A held lease kept alive while a run lasts. */
export interface LeaseHeartbeat {
  /**
   * The run must stop writing: the lease was taken over, or not renewed within the renew
   * deadline (another run may take it over once it lapses). Once true, stays true.
   */
  readonly lost: boolean;
  readonly holder: LeaseHolder;
  stop(): void;
}

/** Renews the lease every retry period until stopped; notices a takeover and a missed deadline. */
export function keepLeaseAlive(
  db: Firestore,
  holder: LeaseHolder,
  now: () => Date,
  timing: LeaseTiming = leaseTiming(),
): LeaseHeartbeat {
  let lastRenewedAt = performance.now(); // the lease was just taken
  let lost = false;
  let renewing = false;
  const checkDeadline = () => {
    if (performance.now() - lastRenewedAt > timing.renewDeadlineMs) lost = true;
    return lost;
  };
  const beat = () => {
    if (checkDeadline() || renewing) return;
    renewing = true;
    const started = performance.now();
    within(renewBackupLock(db, holder, now(), timing.durationMs), timing.renewDeadlineMs)
      .then(
        (held) => {
          if (!held) lost = true;
          else lastRenewedAt = Math.max(lastRenewedAt, started);
        },
        () => undefined, // transient: the next beat tries again, until the deadline
      )
      .finally(() => {
        renewing = false;
      });
  };
  const timer = setInterval(beat, timing.retryPeriodMs);
  timer.unref();
  return {
    get lost() {
      return checkDeadline();
    },
    holder,
    stop: () => clearInterval(timer),
  };
}

/** Deletes the lease if this attempt holds it. False when it held nothing. */
export async function releaseBackupLock(db: Firestore, holder: LeaseHolder): Promise<boolean> {
  const ref = lockRef(db);
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const current = snap.exists ? parseLease(snap.data()) : null;
    if (current === null || !ownedBy(current, holder)) return false;
    tx.delete(ref);
    return true;
  });
}

/** The lease if a run holds it at `now`; null when free or expired. */
export async function readBackupLock(db: Firestore, now: Date): Promise<BackupLock | null> {
  const snap = await lockRef(db).get();
  const parsed = snap.exists ? lockSchema.safeParse(snap.data()) : null;
  const current = parsed?.success ? parsed.data : null;
  return current !== null && current.expiresAt.toMillis() > now.getTime() ? current : null;
}
