import { Timestamp, type Firestore } from "firebase-admin/firestore";
import { lockRef } from "../../src/backup/lock";
import type { OfficeRndReader, ResourcePage } from "../../src/officernd/types";
import { interceptRequests } from "../mirror/firestore-requests";

/** Faults beyond the sandbox's: a reader that acts mid-run, failing batch commits, an expired lease. */

/** A reader that calls `onPage` before handing each page on (to act mid-run, e.g. expire tokens). */
export function tapPages(
  reader: OfficeRndReader,
  onPage: (page: ResourcePage) => void | Promise<void>,
): OfficeRndReader {
  return {
    async *pages(resource, options) {
      for await (const page of reader.pages(resource, options)) {
        await onPage(page);
        yield page;
      }
    },
    ...(reader.count ? { count: reader.count.bind(reader) } : {}),
    stats: () => reader.stats(),
  };
}

export interface BatchFault {
  /** batchWrite RPCs seen so far. */
  calls(): number;
  /** batchWrite RPCs failed so far. */
  failed(): number;
  restore(): void;
}

/**
 * Makes BulkWriter batch commits (the `batchWrite` RPC) fail as Firestore does when it is
 * overloaded or unreachable: the RPC rejects with a gRPC code, so BulkWriter maps the failure onto
 * every write of the batch and the engine's retry policy decides.
 */
export function failBatchCommits(
  db: Firestore,
  shouldFail: (call: number) => boolean,
  code = 14,
): BatchFault {
  let calls = 0;
  let failed = 0;
  const restore = interceptRequests(db, (method, _request, send) => {
    if (method !== "batchWrite") return send();
    calls += 1;
    if (!shouldFail(calls)) return send();
    failed += 1;
    const error = new Error(`${code} UNAVAILABLE: the batch commit failed (injected)`);
    return Promise.reject(Object.assign(error, { code }));
  });
  return { calls: () => calls, failed: () => failed, restore };
}

/** Moves the stored lease's expiry into the past: what waiting out its TTL does. */
export async function expireLease(db: Firestore): Promise<void> {
  await lockRef(db).update({ expiresAt: Timestamp.fromMillis(Date.now() - 1_000) });
}
