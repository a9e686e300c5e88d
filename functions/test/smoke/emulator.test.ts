import { createTestFirestore, type TestFirestore } from "../harness/firestore";

describe("Firestore emulator harness", () => {
  let fs: TestFirestore;
  beforeAll(() => {
    fs = createTestFirestore("smoke");
  });
  afterAll(() => fs.close());

  it("writes and reads back through the real emulator, replacing on set()", async () => {
    const ref = fs.db.collection("things").doc("a");
    await ref.set({ a: 1, nested: { b: "ü" } });
    await ref.set({ c: null });
    const snap = await ref.get();
    expect(snap.data()).toEqual({ c: null });
  });

  it("isolates projects", async () => {
    const other = createTestFirestore("smoke2");
    try {
      await fs.db.collection("iso").doc("x").set({ v: 1 });
      const seen = await other.db.collection("iso").get();
      expect(seen.size).toBe(0);
    } finally {
      await other.close();
    }
  });
});

describe("toolchain", () => {
  it("runs on Node 24 or newer (firebase-admin 14 and the nodejs24 runtime need it)", () => {
    expect(Number(process.versions.node.split(".")[0])).toBeGreaterThanOrEqual(24);
  });
});
