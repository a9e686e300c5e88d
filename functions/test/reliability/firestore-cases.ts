import { MAX_REQUEST_BYTES } from "../../src/mirror/storable";
import { RESOURCE_NAMES } from "../../src/officernd/resources";
import {
  limitRequestSize,
  loseAnswers,
  type LostAnswers,
  type RequestLimit,
} from "../mirror/firestore-requests";
import type { ApiCase } from "./api-group";
import { failBatchCommits, type BatchFault } from "./faults";
import { goodIds } from "./known-content";

/**
 * The Firestore rows played at the client's RPC funnel (test/mirror/firestore-requests.ts, and
 * ./faults.ts): batch commits refused, a commit whose answer is lost after it landed, and
 * Firestore's request size limit. Each is one normal run (./api-group.ts); the fault is removed
 * once the run is checked, before the converging run.
 */

const GRPC_UNKNOWN = 2;
const GRPC_DEADLINE_EXCEEDED = 4;
const MiB = 1_048_576;

let batchFault: BatchFault | null = null;
let lostAnswer: LostAnswers | null = null;
let requestLimit: RequestLimit | null = null;

/** The seeded drift: 2 missing, 2 changed, 2 orphaned for each of the three types. */
const DRIFT_WRITES = 18;

function lostAnswerCase(code: number, name: string): ApiCase {
  return {
    name: `commit answer lost (${name})`,
    fault: `the first batchWrite commits, then its answer is lost as ${name}; BulkWriter retries its writes`,
    expect: { status: "completed" },
    inject: (s) => {
      lostAnswer = loseAnswers(s.db, { method: "batchWrite", code });
    },
    check: (r, _s, row) => {
      lostAnswer?.restore();
      expect(lostAnswer?.lost()).toBe(1);
      // Each retried write met its own first attempt: re-read and found ours, not a conflict.
      expect(r.written).toBe(DRIFT_WRITES);
      expect(r.inSync).toBe(true);
      for (const resource of RESOURCE_NAMES) expect(r.resources[resource].conflicts).toBe(0);
      row.notes =
        `the lost batch held ${lostAnswer?.writes() ?? "?"} writes; each retry met the write's own ` +
        `first attempt, was re-read and counted written: ${r.written} written, 0 conflicts, in sync`;
    },
  };
}

/** Records that each need most of Firestore's 1 MiB document limit. */
const BIG_RECORDS = 12;
const BIG_NOTES_CHARS = 1_000_000;

export const FIRESTORE_CASES: ApiCase[] = [
  {
    name: "batch commit fails once",
    fault: "the first batchWrite RPC fails UNAVAILABLE",
    expect: { status: "completed" },
    inject: (s) => {
      batchFault = failBatchCommits(s.db, (call) => call === 1);
    },
    check: (r, _s, row) => {
      batchFault?.restore();
      expect(batchFault?.failed()).toBe(1);
      expect(r.written).toBe(DRIFT_WRITES);
      row.notes = `1 commit failed, BulkWriter retried its writes; ${r.written} written`;
    },
  },
  {
    name: "batch commits keep failing",
    fault: "every batchWrite RPC after the first fails UNAVAILABLE (chunks of 6 writes)",
    expect: {
      status: "failed",
      code: "firestore_write",
      retryable: true,
      message: /write\(s\) failed \(first: .*UNAVAILABLE/,
    },
    deps: { writeChunkSize: 6 },
    inject: (s) => {
      batchFault = failBatchCommits(s.db, (call) => call >= 2);
    },
    check: (r, _s, row) => {
      batchFault?.restore();
      // The first commit landed; every write stream stopped at its first chunk refused.
      expect(r.written).toBeGreaterThanOrEqual(1);
      expect(r.written).toBeLessThan(DRIFT_WRITES);
      expect(batchFault?.failed()).toBeGreaterThanOrEqual(4);
      row.notes =
        `${r.written} written by the first commit; ${batchFault?.failed() ?? "?"} commits failed ` +
        "(each batch tried 4 times), then each resource's writes stopped";
    },
  },
  lostAnswerCase(GRPC_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
  lostAnswerCase(GRPC_UNKNOWN, "UNKNOWN"),
  {
    name: "records near 1 MiB each",
    fault: `${BIG_RECORDS} members of ~1 MB each (the document limit is 1 MiB) to write; Firestore refuses a request over 10 MiB`,
    expect: { status: "completed" },
    changesTruth: true,
    inject: (s, known) => {
      const ids = goodIds(known, "members")
        .filter((_id, i) => i % 10 === 0)
        .slice(0, BIG_RECORDS);
      for (const id of ids) {
        const updated = s.sandbox.data.members.update(id, {
          notes: `${id} `.repeat(BIG_NOTES_CHARS / 25),
        });
        s.truth.members = s.truth.members.map((r) => (r._id === id ? updated : r));
      }
      // Production's limit; what the emulator cannot take at once it gets in parts.
      requestLimit = limitRequestSize(s.db, {
        limitBytes: MAX_REQUEST_BYTES,
        emulatorMaxBytes: 3 * MiB,
      });
    },
    check: (r, _s, row) => {
      requestLimit?.restore();
      const largest = requestLimit?.largest() ?? 0;
      expect(r.resources.members.unstorable).toBe(0);
      expect(r.written).toBe(DRIFT_WRITES + BIG_RECORDS);
      expect(requestLimit?.refused()).toBe(0);
      expect(largest).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
      // Requests as large as the cap allows: a count cap alone (20 writes) would send 12 MB.
      expect(largest).toBeGreaterThan(5 * MiB);
      row.notes =
        `${BIG_RECORDS} × ${(BIG_NOTES_CHARS / 1e6).toFixed(1)} MB written in ` +
        `${requestLimit?.requests() ?? "?"} batch requests, the largest ` +
        `${(largest / MiB).toFixed(1)} MiB (limit 10 MiB); none refused, none called unstorable`;
    },
  },
];
