import {
  acquireBackupLock,
  LOCK_TTL_MS,
  lockRef,
  readBackupLock,
  releaseBackupLock,
  renewBackupLock,
} from "../../src/backup/lock";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";

const T0 = new Date("2026-11-25T10:00:00Z");
const later = (ms: number) => new Date(T0.getTime() + ms);

let fs: TestFirestore;
beforeEach(() => {
  fs = createTestFirestore("lock");
});
afterEach(() => fs.close());

it("lets one run hold the lease; a second sees who holds it and until when", async () => {
  const first = await acquireBackupLock(fs.db, { runId: "run-a", trigger: "schedule", now: T0 });
  expect(first.acquired).toBe(true);
  const second = await acquireBackupLock(fs.db, {
    runId: "run-b",
    trigger: "manual",
    now: later(1000),
  });
  expect(second).toEqual({
    acquired: false,
    heldBy: "run-a",
    trigger: "schedule",
    expiresAt: later(LOCK_TTL_MS),
  });
  expect((await readBackupLock(fs.db, later(1000)))?.runId).toBe("run-a");
});

it("only one of many simultaneous runs gets it (transaction)", async () => {
  const attempts = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      acquireBackupLock(fs.db, { runId: `run-${i}`, trigger: "cli", now: T0 }),
    ),
  );
  expect(attempts.filter((a) => a.acquired)).toHaveLength(1);
});

it("an expired lease (a crashed run) is taken over", async () => {
  await acquireBackupLock(fs.db, { runId: "crashed", trigger: "schedule", now: T0 });
  const next = await acquireBackupLock(fs.db, {
    runId: "next",
    trigger: "schedule",
    now: later(LOCK_TTL_MS + 1),
  });
  expect(next.acquired).toBe(true);
  expect(await readBackupLock(fs.db, later(LOCK_TTL_MS + 2))).toMatchObject({ runId: "next" });
  // The crashed run cannot release or renew the new holder's lease.
  expect(await releaseBackupLock(fs.db, "crashed")).toBe(false);
  expect(await renewBackupLock(fs.db, "crashed", later(LOCK_TTL_MS + 3))).toBe(false);
  expect((await lockRef(fs.db).get()).get("runId")).toBe("next");
});

it("is renewed and released by its holder only", async () => {
  await acquireBackupLock(fs.db, { runId: "a", trigger: "cli", now: T0, ttlMs: 60_000 });
  expect(await renewBackupLock(fs.db, "a", later(50_000), 60_000)).toBe(true);
  // Without the renewal this would have expired at T0 + 60 s.
  expect(
    await acquireBackupLock(fs.db, { runId: "b", trigger: "cli", now: later(70_000) }),
  ).toMatchObject({ acquired: false, heldBy: "a" });
  expect(await releaseBackupLock(fs.db, "b")).toBe(false);
  expect(await releaseBackupLock(fs.db, "a")).toBe(true);
  expect(await readBackupLock(fs.db, later(70_000))).toBeNull();
  expect(
    (await acquireBackupLock(fs.db, { runId: "b", trigger: "cli", now: later(70_000) })).acquired,
  ).toBe(true);
});

it("a malformed lock document does not block runs forever", async () => {
  await lockRef(fs.db).set({ runId: 42, note: "garbage" });
  const attempt = await acquireBackupLock(fs.db, { runId: "a", trigger: "cli", now: T0 });
  expect(attempt.acquired).toBe(true);
});
