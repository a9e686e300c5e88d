import type { Firestore } from "firebase-admin/firestore";
import { cachedCounts, getBackupStatus, liveCounts, type CountSource } from "../../src/status";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { NOW, seedRecords } from "./fixtures";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("firestore counts: live and shared for a short window", () => {
  let fs: TestFirestore;
  beforeEach(() => {
    fs = createTestFirestore("counts");
  });
  afterEach(() => fs.close());

  it("reuses counts within the window, says when they were taken, recounts after it", async () => {
    // A window long enough that a loaded machine still reads twice within it.
    const counts = cachedCounts(2_000);
    await seedRecords(fs.db, "members", { active: 3 });
    const first = await getBackupStatus(fs.db, {
      missingAlertThreshold: 10,
      counts,
      now: () => NOW,
    });
    expect(first.currentStats.members.firestore).toBe(3);

    await seedRecords(fs.db, "companies", { active: 2 });
    const later = new Date(NOW.getTime() + 5_000);
    const cached = await getBackupStatus(fs.db, {
      missingAlertThreshold: 10,
      counts,
      now: () => later,
    });
    expect(cached.currentStats.companies.firestore).toBe(0);
    expect(cached.freshness.firestoreCountsAsOf).toBe(NOW.toISOString());
    expect(cached.freshness.firestoreCountsAgeSeconds).toBe(5);
    expect(cached.lastChecked).toBe(later.toISOString());

    await sleep(2_100);
    const fresh = await getBackupStatus(fs.db, {
      missingAlertThreshold: 10,
      counts,
      now: () => later,
    });
    expect(fresh.currentStats.companies.firestore).toBe(2);
    expect(fresh.freshness.firestoreCountsAgeSeconds).toBe(0);
  });

  it("counts once for concurrent requests (single flight), per database", async () => {
    let calls = 0;
    const counting: CountSource = (db, now) => {
      calls++;
      return liveCounts(db, now);
    };
    const counts = cachedCounts(10_000, counting);
    await Promise.all(Array.from({ length: 10 }, () => counts(fs.db, NOW)));
    expect(calls).toBe(1);
    const other = createTestFirestore("counts2");
    try {
      await counts(other.db, NOW);
      expect(calls).toBe(2);
    } finally {
      await other.close();
    }
  });

  it("does not keep a failed count", async () => {
    let fail = true;
    const flaky: CountSource = (db: Firestore, now: Date) =>
      fail ? Promise.reject(new Error("unavailable")) : liveCounts(db, now);
    const counts = cachedCounts(10_000, flaky);
    await expect(counts(fs.db, NOW)).rejects.toThrow("unavailable");
    fail = false;
    await expect(counts(fs.db, NOW)).resolves.toMatchObject({ asOf: NOW });
  });

  it("0 means live on every call", async () => {
    const counts = cachedCounts(0);
    await counts(fs.db, NOW);
    await seedRecords(fs.db, "members", { active: 1 });
    expect((await counts(fs.db, NOW)).counts.members).toBe(1);
  });
});
