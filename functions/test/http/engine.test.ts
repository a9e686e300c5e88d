import type { Express } from "express";
import request from "supertest";
import { acquireBackupLock, keepLeaseAlive } from "../../src/backup/lock";
import { beginBackup, type BackupRunResult } from "../../src/backup/run";
import { createApp, type ManualBackupStarter } from "../../src/http";
import { RESOURCE_NAMES } from "../../src/officernd/resources";
import { backupRunsResponseSchema, backupStatusResponseSchema } from "../../src/status";
import { seedFirestore, startStack, type Stack } from "../backup/helpers";
import { ADMIN_ID_TOKEN, STATUS_TOKEN, bearer, captureLogs, fakeVerifyIdToken } from "./helpers";

/**
 * The whole path with the real engine: OfficeRnD sandbox over HTTP -> manual run started through
 * `POST /v1/office-rnd/backup` -> documents the engine writes -> the status the API serves.
 */
describe("status API over runs of the real engine", () => {
  const logs = captureLogs();
  let stack: Stack;
  let app: Express;
  let completions: Promise<BackupRunResult>[];

  beforeEach(async () => {
    stack = await startStack("http-engine");
    completions = [];
    const startManualBackup: ManualBackupStarter = async (trigger) => {
      const start = await beginBackup(stack.deps(), { trigger });
      if (start.busy) return start;
      completions.push(start.completion);
      return start;
    };
    app = createApp({
      db: stack.db,
      status: { statusToken: STATUS_TOKEN, missingAlertThreshold: 10 },
      verifyIdToken: fakeVerifyIdToken,
      startManualBackup,
      // Counts on every request: this test changes the data between requests.
      countsMaxAgeMs: 0,
    });
  });
  afterEach(async () => {
    await Promise.all(completions);
    await stack.close();
  });
  afterAll(() => logs.stop());

  const status = async () => {
    const res = await request(app).get("/v1/office-rnd/backup-status").set(bearer(STATUS_TOKEN));
    expect(res.status).toBe(200);
    return backupStatusResponseSchema.parse(res.body);
  };

  it("never_run, then a manual run repairs 12 missing members and the status shows it", async () => {
    const snapshot = stack.sandbox.data.snapshot();
    const dropped = 12;
    await seedFirestore(stack.db, { ...snapshot, members: snapshot.members.slice(dropped) });

    const before = await status();
    expect(before.backup.status).toBe("never_run");
    expect(before.currentStats.members.firestore).toBe(snapshot.members.length - dropped);

    const started = await request(app).post("/v1/office-rnd/backup").set(bearer(ADMIN_ID_TOKEN));
    expect(started.status).toBe(202);
    const { runId } = started.body as { runId: string };
    const result = await completions[0];
    expect(result?.status).toBe("completed");

    const after = await status();
    expect(after.backup).toMatchObject({
      status: "completed",
      missingRecords: dropped,
      runId,
      trigger: "manual",
      error: null,
      inProgress: null,
    });
    for (const name of RESOURCE_NAMES) {
      const n = snapshot[name].length;
      // Missing now: the completed run created them (what it found is backup.missingRecords).
      expect(after.currentStats[name]).toEqual({ firestore: n, api: n, missing: 0 });
      expect(after.syncHealth[name]).toBe("healthy");
    }
    expect(after.alerts).toEqual([
      {
        code: "missing_records_high",
        severity: "warning",
        message: `The latest backup found ${dropped} missing records (alert above 10).`,
      },
    ]);
    expect(after.metrics.successRate).toEqual({ percent: 100, completed: 1, failed: 0, runs: 1 });
    expect(after.metrics.timeToRecover.recoveries).toBe(1);

    const runs = await request(app).get("/v1/office-rnd/backups").set(bearer(STATUS_TOKEN));
    expect(backupRunsResponseSchema.parse(runs.body).runs.map((r) => r.runId)).toEqual([runId]);
  });

  it("a failed run (OfficeRnD 503s) raises backup_failed; the next good run clears it", async () => {
    await seedFirestore(stack.db, stack.sandbox.data.snapshot());
    stack.sandbox.setFault({ kind: "5xx", resource: "members", status: 503 });
    expect(
      (await request(app).post("/v1/office-rnd/backup").set(bearer(ADMIN_ID_TOKEN))).status,
    ).toBe(202);
    expect((await completions[0])?.status).toBe("failed");

    const failed = await status();
    expect(failed.backup.status).toBe("failed");
    expect(failed.backup.error?.code).toEqual(expect.any(String));
    expect(failed.alerts.map((a) => a.code)).toEqual(
      expect.arrayContaining(["backup_failed", "backup_stale"]),
    );
    expect(failed.syncHealth.members).toBeNull();

    stack.sandbox.clearFaults();
    await request(app).post("/v1/office-rnd/backup").set(bearer(ADMIN_ID_TOKEN));
    expect((await completions[1])?.status).toBe("completed");
    const recovered = await status();
    expect(recovered.alerts).toEqual([]);
    expect(recovered.metrics.successRate).toMatchObject({ completed: 1, failed: 1, runs: 2 });
    expect(recovered.metrics.timeToRecover).toMatchObject({
      recoveries: 1,
      unresolvedSince: null,
    });
  });

  it("409 while another run holds the lock; the status shows it in progress", async () => {
    const now = new Date();
    const held = await acquireBackupLock(stack.db, {
      runId: "scheduled-run",
      trigger: "schedule",
      now,
    });
    if (!held.acquired) throw new Error("the lock was taken");
    // A live run renews its lease (a lease nobody renews is a dead run's, and is taken over).
    const heartbeat = keepLeaseAlive(stack.db, held.holder, () => new Date());
    try {
      const res = await request(app).post("/v1/office-rnd/backup").set(bearer(ADMIN_ID_TOKEN));
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({
        error: { code: "backup_in_progress", runId: "scheduled-run" },
      });
      expect((await status()).backup.inProgress).toMatchObject({
        runId: "scheduled-run",
        trigger: "schedule",
      });
    } finally {
      heartbeat.stop();
    }
  });
});
