/**
 * Bounds on waiting for Firestore. Its client retries an unavailable backend for up to 10 minutes
 * per request (the GAPIC default total timeout), so without a bound a Firestore outage mid-run
 * keeps a run busy until the function's timeout kills it: nothing recorded, the lock left held.
 * With one, the run stops, records the failure when it can, and ends in time. A request given up
 * on may still land later: every backup write is conditional on the version the run read, so a
 * late one only lands on a document nobody changed since, and the next run compares it again.
 */

/** Default bound on one Firestore step (a lock transaction, a chunk of writes, a page, the record). */
export const FIRESTORE_TIMEOUT_MS = 60_000;

const GRPC_DEADLINE_EXCEEDED = 4;

/** Firestore did not answer in time. Carries DEADLINE_EXCEEDED: transient, the run may retry. */
export class FirestoreTimeoutError extends Error {
  readonly code = GRPC_DEADLINE_EXCEEDED;
  constructor(readonly timeoutMs: number) {
    super(`no answer from Firestore within ${timeoutMs} ms`);
    this.name = "FirestoreTimeoutError";
  }
}

/** `work`, or a FirestoreTimeoutError after `ms` (the work is left running, its outcome handled). */
export function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new FirestoreTimeoutError(ms)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** True when `work` settles (either way) within `ms`; false when it does not. */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  return within(
    work.then(
      () => true,
      () => true,
    ),
    ms,
  ).catch(() => false);
}
