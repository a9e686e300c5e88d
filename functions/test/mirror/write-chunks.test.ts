import { applyRecordWrites, type RecordWrite } from "../../src/mirror/bulk-writes";
import type { OfficeRndRecord } from "../../src/officernd/schemas";
import { chunkWrites, sizeWrites } from "../../src/mirror/write-chunks";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { encodedBytes, interceptRequests, type BatchWriteRequest } from "./firestore-requests";

/** The byte estimate that sizes write chunks, held to what the SDK really sends. */

const NOW = new Date("2026-11-25T10:00:00Z");
const id = (n: number) => n.toString(16).padStart(24, "0");

let fs: TestFirestore;
beforeAll(() => {
  fs = createTestFirestore("write-chunks");
});
afterAll(() => fs.close());

/** Shapes that weigh more on the wire than in storage: many small values, nesting, unicode. */
function awkwardRecords(): OfficeRndRecord[] {
  const flags = Object.fromEntries(
    Array.from({ length: 20_000 }, (_, i) => [`f${i}`, i % 2 === 0]),
  );
  const nested = {
    rows: Array.from({ length: 3_000 }, (_, i) => ({ n: i, x: -i / 7, ok: null, s: "é" })),
  };
  return [
    { _id: id(1), ...flags },
    { _id: id(2), properties: nested },
    { _id: id(3), name: "Zoë 🚀".repeat(20_000), list: Array.from({ length: 5_000 }, (_, i) => i) },
    { _id: id(4), name: "tiny" },
  ];
}

it("never estimates a write below its size in the request Firestore receives", async () => {
  const col = fs.db.collection("officeRndMembers");
  // A stored document with stray fields: the replace names each of them to delete it.
  const strays = Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`stray${i}`, 1]));
  await col.doc(id(4)).set({ _id: id(4), ...strays });
  const stored = await col.doc(id(4)).get();
  const [one, two, three, four] = awkwardRecords();
  const writes: RecordWrite[] = [
    { op: "create", resource: "members", record: one! },
    { op: "create", resource: "members", record: two! },
    { op: "create", resource: "members", record: three! },
    {
      op: "replace",
      resource: "members",
      record: four!,
      base: { updateTime: stored.updateTime!, fields: Object.keys(stored.data() ?? {}) },
    },
  ];
  const estimates = new Map(
    sizeWrites(writes).storable.map(({ write, bytes }) => [
      write.op === "create" || write.op === "replace" ? write.record._id : write.id,
      bytes,
    ]),
  );
  const sent = new Map<string, number>();
  const undo = interceptRequests(fs.db, (method, request, send) => {
    if (method === "batchWrite") {
      for (const write of (request as BatchWriteRequest).writes) {
        const name = write.update?.name ?? write.delete ?? "";
        // A repeated field's tag and length frame each write inside the request: ≤ 6 bytes.
        sent.set(name.slice(name.lastIndexOf("/") + 1), encodedBytes("Write", write) + 6);
      }
    }
    return send();
  });
  try {
    const outcome = await applyRecordWrites(fs.db, writes, { source: "backup", now: NOW });
    expect(outcome.written).toBe(4);
  } finally {
    undo();
  }
  expect(sent.size).toBe(4);
  for (const [docId, bytes] of sent) {
    expect({ docId, estimate: estimates.get(docId) ?? 0 }).toEqual({
      docId,
      estimate: expect.any(Number) as number,
    });
    expect(estimates.get(docId)).toBeGreaterThanOrEqual(bytes);
  }
});

it("chunks by count and by bytes, and always takes at least one write", () => {
  const w = (n: number, bytes: number) => ({
    write: { op: "create", resource: "members", record: { _id: id(n) } } as RecordWrite,
    bytes,
  });
  const ids = (chunks: RecordWrite[][]) =>
    chunks.map((c) =>
      c.map((x) => (x.op === "create" ? x.record._id : "")).map((s) => parseInt(s, 16)),
    );
  expect(ids(chunkWrites([w(1, 10), w(2, 10), w(3, 10)], 2, 100))).toEqual([[1, 2], [3]]);
  expect(ids(chunkWrites([w(1, 60), w(2, 60), w(3, 30)], 10, 100))).toEqual([[1], [2, 3]]);
  expect(ids(chunkWrites([w(1, 500), w(2, 10)], 10, 100))).toEqual([[1], [2]]);
});
