import { Timestamp } from "firebase-admin/firestore";
import { acquireBackupLock } from "../src/backup/lock";
import { enqueueManualBackup } from "../src/wiring";
import { createTestFirestore, type TestFirestore } from "./harness/firestore";

/** Production POST /backup: check the lock, then hand the run to the task queue. */
describe("enqueueManualBackup", () => {
  let fs: TestFirestore;
  beforeAll(() => {
    fs = createTestFirestore("enqueue");
  });
  afterAll(() => fs.close());

  /** A stand-in for the task queue that keeps what it was given. */
  function queue() {
    const tasks: { runId: string; trigger: string }[] = [];
    const enqueue = (task: { runId: string; trigger: string }): Promise<void> => {
      tasks.push(task);
      return Promise.resolve();
    };
    return { tasks, enqueue };
  }

  it("enqueues a manual run with a fresh, time-sortable run id when no run holds the lock", async () => {
    const { tasks, enqueue } = queue();
    const now = new Date("2026-11-25T12:00:00Z");
    const result = await enqueueManualBackup(fs.db, enqueue, now);
    expect(result.busy).toBe(false);
    const runId = (result as { runId: string }).runId;
    expect(runId).toMatch(/^20261125T120000000Z-[0-9a-f]+$/);
    expect(tasks).toEqual([{ runId, trigger: "manual" }]);
  });

  it("answers busy, and enqueues nothing, while a run holds the lock", async () => {
    const now = new Date();
    const lock = await acquireBackupLock(fs.db, { runId: "held-run", trigger: "schedule", now });
    expect(lock.acquired).toBe(true);
    const { tasks, enqueue } = queue();
    const result = await enqueueManualBackup(fs.db, enqueue, now);
    expect(result).toMatchObject({ busy: true, heldBy: "held-run" });
    expect(tasks).toHaveLength(0);
    expect((result as { expiresAt: Date }).expiresAt.getTime()).toBeGreaterThan(
      Timestamp.fromDate(now).toMillis(),
    );
  });
});
