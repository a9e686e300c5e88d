import type { DocumentSnapshot } from "firebase-admin/firestore";
import { applyRecordWrites, type RecordWrite } from "../../src/mirror/bulk-writes";
import { recordRef } from "../../src/mirror/record-document";
import { recordHash } from "../../src/mirror/record-hash";
import { writeRecord } from "../../src/mirror/record-writes";
import { MAX_REQUEST_BYTES } from "../../src/mirror/storable";
import { MAX_CHUNK_BYTES } from "../../src/mirror/write-chunks";
import type { OfficeRndRecord } from "../../src/officernd/schemas";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { limitRequestSize, loseAnswers } from "./firestore-requests";

/**
 * The backup's conditional bulk writes against the emulator, with the two request failures it
 * cannot produce by itself played at the RPC funnel: a commit that landed but whose answer was
 * lost (DEADLINE_EXCEEDED), and Firestore's request size limit.
 */

const NOW = new Date("2026-11-25T10:00:00Z");
const id = (n: number) => n.toString(16).padStart(24, "0");
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNKNOWN = 2;

let fs: TestFirestore;
beforeEach(() => {
  fs = createTestFirestore("bulk-writes");
});
afterEach(() => fs.close());

function base(snap: DocumentSnapshot) {
  if (!snap.updateTime) throw new Error(`${snap.ref.path} does not exist`);
  return { updateTime: snap.updateTime, fields: Object.keys(snap.data() ?? {}) };
}

/** Four writes, one of each kind, on documents seeded now. */
async function oneOfEach(): Promise<{ writes: RecordWrite[]; replacement: OfficeRndRecord }> {
  const col = fs.db.collection("officeRndMembers");
  await col.doc(id(2)).set({ _id: id(2), name: "old" });
  await col.doc(id(3)).set({ _id: id(3), name: "orphan" });
  await col.doc(id(4)).set({ _id: id(4), name: "orphan to delete" });
  const [two, three, four] = await fs.db.getAll(col.doc(id(2)), col.doc(id(3)), col.doc(id(4)));
  const replacement = { _id: id(2), name: "new", tags: ["a"] };
  return {
    replacement,
    writes: [
      { op: "create", resource: "members", record: { _id: id(1), name: "fresh" } },
      { op: "replace", resource: "members", record: replacement, base: base(two!) },
      { op: "markRemoved", resource: "members", id: id(3), base: base(three!) },
      { op: "delete", resource: "members", id: id(4), base: base(four!) },
    ],
  };
}

describe("a write retried after an ambiguous failure", () => {
  it("that had in fact committed is re-read and counted as written, not as a conflict", async () => {
    const { writes, replacement } = await oneOfEach();
    // The commit lands; its answer never arrives.
    const fault = loseAnswers(fs.db, { method: "batchWrite", code: GRPC_DEADLINE_EXCEEDED });
    try {
      const outcome = await applyRecordWrites(fs.db, writes, { source: "backup", now: NOW });
      expect(fault.lost()).toBe(1);
      expect(outcome.conflicts).toEqual([]);
      expect(outcome).toMatchObject({ written: 4, confirmedAfterRetry: 4 });
      expect(outcome.byResource.members).toMatchObject({ written: 4, removed: 2, conflicts: 0 });
    } finally {
      fault.restore();
    }
    const doc = (n: number) => recordRef(fs.db, "members", id(n)).get();
    expect((await doc(1)).get("name")).toBe("fresh");
    expect(recordHash((await doc(2)).data() ?? {})).toBe(recordHash(replacement));
    expect((await doc(3)).get("_sync.removedAt")).not.toBeNull();
    expect((await doc(4)).exists).toBe(false);
  });

  it("is still a conflict when the document holds something else (a webhook in between)", async () => {
    const { writes } = await oneOfEach();
    const fault = loseAnswers(fs.db, {
      method: "batchWrite",
      code: GRPC_UNKNOWN,
      // Before the retry, a webhook writes a newer version of the replaced record.
      between: async () => {
        await writeRecord(
          fs.db,
          "members",
          { _id: id(2), name: "from a webhook" },
          { source: "webhook", now: NOW },
        );
      },
    });
    try {
      const outcome = await applyRecordWrites(fs.db, writes, { source: "backup", now: NOW });
      expect(fault.lost()).toBe(1);
      expect(outcome.conflicts).toEqual([expect.objectContaining({ op: "replace", id: id(2) })]);
      expect(outcome).toMatchObject({ written: 3, confirmedAfterRetry: 3 });
    } finally {
      fault.restore();
    }
    expect((await recordRef(fs.db, "members", id(2)).get()).get("name")).toBe("from a webhook");
  });
  it("the same holds for a replace done in a transaction (a field named like `constructor`)", async () => {
    const ref = recordRef(fs.db, "members", id(9));
    await ref.set({ _id: id(9), name: "old" });
    const record = { _id: id(9), name: "new", constructor: "a field OfficeRnD could send" };
    const write: RecordWrite = {
      op: "replace",
      resource: "members",
      record,
      base: base(await ref.get()),
    };
    const fault = loseAnswers(fs.db, { method: "commit", code: GRPC_DEADLINE_EXCEEDED });
    try {
      const outcome = await applyRecordWrites(fs.db, [write], { source: "backup", now: NOW });
      expect(fault.lost()).toBe(1);
      expect(outcome).toMatchObject({ written: 1, conflicts: [] });
    } finally {
      fault.restore();
    }
    expect(recordHash((await ref.get()).data() ?? {})).toBe(recordHash(record));
  });
});

describe("write requests sized by bytes", () => {
  it("caps a chunk at 8 MiB of estimated request bytes, under Firestore's 10 MiB", () => {
    expect(MAX_REQUEST_BYTES).toBe(10 * 1_048_576);
    expect(MAX_CHUNK_BYTES).toBe(8 * 1_048_576);
  });

  /**
   * Records of ~500 KB, each well within Firestore's 1 MiB document limit. BulkWriter sends up to
   * 20 writes per request; without a byte cap, one request would carry ~10 MB. The emulator takes
   * at most 4 MiB per request (gRPC's default) and hangs above it, so production's rule is played
   * here scaled down: a request over 3 MiB is refused with INVALID_ARGUMENT, as Firestore refuses
   * one over 10 MiB, and the chunk cap is scaled alike (8/10 of it).
   */
  it("never lets the request limit make good records look unstorable", async () => {
    const limit = 3 * 1_048_576;
    const records: OfficeRndRecord[] = Array.from({ length: 20 }, (_, i) => ({
      _id: id(100 + i),
      name: `member ${i}`,
      notes: "x".repeat(500_000),
    }));
    const writes: RecordWrite[] = records.map((record) => ({
      op: "create",
      resource: "members",
      record,
    }));
    const firestore = limitRequestSize(fs.db, { limitBytes: limit });
    const chunks: number[] = [];
    try {
      const outcome = await applyRecordWrites(fs.db, writes, {
        source: "backup",
        now: NOW,
        maxChunkBytes: Math.floor(limit * 0.8),
        onChunk: (p) => {
          chunks.push(p.done);
        },
      });
      expect(outcome.unstorable).toEqual([]);
      expect(outcome.written).toBe(20);
    } finally {
      firestore.restore();
    }
    expect(firestore.refused()).toBe(0);
    expect(firestore.largest()).toBeLessThanOrEqual(limit);
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    const stored = await fs.db.collection("officeRndMembers").count().get();
    expect(stored.data().count).toBe(20);
  });
});
