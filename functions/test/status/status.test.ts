import { RUNS_SUBCOLLECTION } from "../../src/backup/documents";
import { onLogEntry, setLogSink, type LogEntry } from "../../src/logs";
import {
  backupStatusResponseSchema,
  getBackupStatus,
  listRecentBackups,
  InvalidBackupDocumentError,
  type BackupStatusResponse,
} from "../../src/status";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import {
  HOUR,
  NOW,
  WEBHOOK_COVERAGE,
  hoursBefore,
  makeRun,
  metadataDoc,
  seedDesignExample,
  seedRecords,
  writeLock,
  writeRuns,
} from "./fixtures";

const options = { now: () => NOW, missingAlertThreshold: 10 };

describe("getBackupStatus (real Firestore emulator)", () => {
  let fs: TestFirestore;
  const logged: LogEntry[] = [];
  let stopListening: () => void;

  beforeAll(() => {
    setLogSink(() => {});
    stopListening = onLogEntry((e) => logged.push(e));
  });
  afterAll(() => {
    stopListening();
    setLogSink(null);
  });
  // A project of its own per test: no test sees another's documents.
  beforeEach(() => {
    fs = createTestFirestore("status");
    logged.length = 0;
  });
  afterEach(() => fs.close());

  it("answers never_run with nulls, live zero counts and the first four keys in the design's order", async () => {
    const status = await getBackupStatus(fs.db, options);
    expect(Object.keys(status).slice(0, 4)).toEqual([
      "backup",
      "currentStats",
      "syncHealth",
      "lastChecked",
    ]);
    expect(status).toEqual({
      backup: {
        lastBackup: null,
        status: "never_run",
        missingRecords: null,
        runId: null,
        trigger: null,
        lastCompleted: null,
        error: null,
        readBudget: null,
        inProgress: null,
        continuing: null,
      },
      currentStats: {
        members: { firestore: 0, api: null, missing: null },
        opportunities: { firestore: 0, api: null, missing: null },
        companies: { firestore: 0, api: null, missing: null },
        locations: { firestore: 0, api: null, missing: null },
        events: { firestore: 0, api: null, missing: null },
        bookings: { firestore: 0, api: null, missing: null },
      },
      syncHealth: {
        members: null,
        opportunities: null,
        companies: null,
        locations: null,
        events: null,
        bookings: null,
      },
      lastChecked: "2024-01-15T14:30:00.000Z",
      alerts: [
        {
          code: "backup_never_run",
          severity: "warning",
          message: "No backup has run yet: there is no backup metadata.",
        },
      ],
      metrics: {
        runsConsidered: 0,
        dataConsistency: {
          percent: null,
          inSyncRecords: null,
          totalRecords: null,
          averagePercent: null,
        },
        successRate: { percent: null, completed: 0, failed: 0, runs: 0 },
        timeToRecover: {
          recoveries: 0,
          lastMs: null,
          averageMs: null,
          maxMs: null,
          unresolvedSince: null,
        },
        dataVolume: {
          members: [],
          opportunities: [],
          companies: [],
          locations: [],
          events: [],
          bookings: [],
        },
      },
      freshness: {
        apiCountsAsOf: null,
        apiCountsAgeSeconds: null,
        firestoreCountsAsOf: "2024-01-15T14:30:00.000Z",
        firestoreCountsAgeSeconds: 0,
      },
      webhooks: {
        lastReceivedAt: null,
        receivedSinceLastBackup: 0,
        rejected: 0,
        lastRejectedAt: null,
        byType: {},
        // Live: no opportunity.* webhook event exists; bookings have booking.* events.
        coverage: WEBHOOK_COVERAGE,
      },
      incrementalSync: {
        lastRun: null,
        highWaterMarks: {
          members: null,
          opportunities: null,
          companies: null,
          locations: null,
          events: null,
          bookings: null,
        },
      },
      schemaDrift: {
        members: { fields: null, lastChange: null },
        opportunities: { fields: null, lastChange: null },
        companies: { fields: null, lastChange: null },
        locations: { fields: null, lastChange: null },
        events: { fields: null, lastChange: null },
        bookings: { fields: null, lastChange: null },
      },
    } satisfies BackupStatusResponse);
    expect(() => backupStatusResponseSchema.parse(status)).not.toThrow();
  });

  it("reproduces the design document's example after a completed in-sync run", async () => {
    const finishedAt = new Date("2024-01-15T10:00:00.000Z");
    const run = await seedDesignExample(fs.db, finishedAt);
    const status = backupStatusResponseSchema.parse(await getBackupStatus(fs.db, options));
    expect(status.backup).toEqual({
      lastBackup: "2024-01-15T10:00:00.000Z",
      status: "completed",
      missingRecords: 0,
      runId: run.runId,
      trigger: "schedule",
      lastCompleted: "2024-01-15T10:00:00.000Z",
      error: null,
      // The latest run's read budget (OfficeRnD's rate-limit headers, docs/officernd-api.md).
      readBudget: {
        used: 9,
        minute: { limit: 400, remaining: 391, resetAt: "2024-01-15T10:00:41.000Z" },
        day: { limit: 20_000, remaining: 19_412, resetAt: "2024-01-16T06:12:00.000Z" },
      },
      inProgress: null,
      continuing: null,
    });
    // The design's shape first, in its order; the next types after it.
    expect(Object.keys(status.currentStats)).toEqual([
      "members",
      "opportunities",
      "companies",
      "locations",
      "events",
      "bookings",
    ]);
    expect(status.currentStats).toEqual({
      members: { firestore: 150, api: 150, missing: 0 },
      opportunities: { firestore: 75, api: 75, missing: 0 },
      companies: { firestore: 25, api: 25, missing: 0 },
      locations: { firestore: 0, api: 0, missing: 0 },
      events: { firestore: 0, api: 0, missing: 0 },
      bookings: { firestore: 0, api: 0, missing: 0 },
    });
    expect(status.syncHealth).toEqual({
      members: "healthy",
      opportunities: "healthy",
      companies: "healthy",
      locations: "healthy",
      events: "healthy",
      bookings: "healthy",
    });
    expect(status.lastChecked).toBe("2024-01-15T14:30:00.000Z");
    expect(status.alerts).toEqual([]);
    expect(status.freshness).toEqual({
      apiCountsAsOf: "2024-01-15T10:00:00.000Z",
      apiCountsAgeSeconds: 4.5 * 3600,
      firestoreCountsAsOf: "2024-01-15T14:30:00.000Z",
      firestoreCountsAgeSeconds: 0,
    });
    expect(status.metrics.dataConsistency).toEqual({
      percent: 100,
      inSyncRecords: 250,
      totalRecords: 250,
      averagePercent: 100,
    });
    expect(status.metrics.successRate).toEqual({ percent: 100, completed: 1, failed: 0, runs: 1 });
  });

  it("counts active records live: marked-removed excluded, documents without _sync included", async () => {
    await seedRecords(fs.db, "members", { active: 7, removed: 3, bare: 2 });
    await seedRecords(fs.db, "companies", { active: 0, removed: 4 });
    const status = await getBackupStatus(fs.db, options);
    expect(status.currentStats.members.firestore).toBe(9);
    expect(status.currentStats.opportunities.firestore).toBe(0);
    expect(status.currentStats.companies.firestore).toBe(0);
  });

  describe("alerts", () => {
    it("backup failed: critical, with the run and its error code; error in backup.error", async () => {
      const lastGood = hoursBefore(NOW, 26);
      const bad = makeRun({
        label: "bad",
        finishedAt: hoursBefore(NOW, 2),
        status: "failed",
        errorCode: "throttled",
        error: "OfficeRnD members: 429s outlasted the retry budget",
        lastCompletedAt: lastGood,
        resources: { members: { api: null, error: "read failed" } },
      });
      await writeRuns(fs.db, [makeRun({ label: "good", finishedAt: lastGood }), bad]);
      const status = await getBackupStatus(fs.db, options);
      expect(status.backup.status).toBe("failed");
      expect(status.backup.error).toEqual({
        code: "throttled",
        message: "OfficeRnD members: 429s outlasted the retry budget",
      });
      expect(status.backup.lastCompleted).toBe(lastGood.toISOString());
      expect(status.alerts).toEqual([
        {
          code: "backup_failed",
          severity: "critical",
          message: `The latest backup, run ${bad.runId} (schedule), failed (throttled) at 2024-01-15T12:30:00.000Z.`,
        },
      ]);
      // The API read of members failed: its health and missing count are unknown, not zero.
      expect(status.syncHealth.members).toBeNull();
      expect(status.currentStats.members).toEqual({ firestore: 0, api: null, missing: null });
    });

    it("currentStats.missing is what is missing now: what a failed run found stays", async () => {
      await writeRuns(fs.db, [
        makeRun({
          label: "failed",
          status: "failed",
          finishedAt: hoursBefore(NOW, 1),
          resources: { members: { missing: 4, written: 0 } },
        }),
      ]);
      const status = await getBackupStatus(fs.db, options);
      expect(status.currentStats.members.missing).toBe(4);
      expect(status.backup.missingRecords).toBe(4);
    });

    it("missing records: above the threshold alerts, at the threshold does not", async () => {
      const found = (missing: number) =>
        makeRun({
          label: `m${missing}`,
          finishedAt: hoursBefore(NOW, 1),
          resources: { members: { missing, written: missing } },
        });
      await writeRuns(fs.db, [found(10)]);
      expect((await getBackupStatus(fs.db, options)).alerts).toEqual([]);

      await writeRuns(fs.db, [found(11)]);
      const status = await getBackupStatus(fs.db, options);
      expect(status.backup.missingRecords).toBe(11);
      // What is missing now: the completed run created them (the alert is on what it found).
      expect(status.currentStats.members.missing).toBe(0);
      expect(status.alerts).toEqual([
        {
          code: "missing_records_high",
          severity: "warning",
          message: "The latest backup found 11 missing records (alert above 10).",
        },
      ]);
      // Repaired by the same run: in sync.
      expect(status.syncHealth.members).toBe("healthy");

      const lenient = await getBackupStatus(fs.db, { ...options, missingAlertThreshold: 11 });
      expect(lenient.alerts).toEqual([]);
    });

    it("no completed backup in 48+ hours: alerts at 48 h, not at 47 h 59 min", async () => {
      await writeRuns(fs.db, [
        makeRun({ label: "old", finishedAt: new Date(NOW.getTime() - 48 * HOUR + 60_000) }),
      ]);
      expect((await getBackupStatus(fs.db, options)).alerts).toEqual([]);

      await writeRuns(fs.db, [makeRun({ label: "older", finishedAt: hoursBefore(NOW, 48) })]);
      const status = await getBackupStatus(fs.db, options);
      expect(status.alerts).toEqual([
        {
          code: "backup_stale",
          severity: "critical",
          message:
            "No backup has completed in 48 hours (last completed at 2024-01-13T14:30:00.000Z; alert after 48).",
        },
      ]);
      expect(status.freshness.apiCountsAgeSeconds).toBe(48 * 3600);
    });

    it("stale also when recent runs only failed, and when no run ever completed", async () => {
      await writeRuns(fs.db, [
        makeRun({
          label: "f1",
          finishedAt: hoursBefore(NOW, 1),
          status: "failed",
          lastCompletedAt: hoursBefore(NOW, 72),
        }),
      ]);
      let codes = (await getBackupStatus(fs.db, options)).alerts.map((a) => a.code);
      expect(codes).toEqual(["backup_failed", "backup_stale"]);

      await writeRuns(fs.db, [
        makeRun({ label: "f2", finishedAt: hoursBefore(NOW, 1), status: "failed" }),
      ]);
      const status = await getBackupStatus(fs.db, options);
      codes = status.alerts.map((a) => a.code);
      expect(codes).toEqual(["backup_failed", "backup_stale"]);
      expect(status.alerts[1]?.message).toBe("No backup has completed yet.");
    });

    it("out_of_sync: the resources the engine flagged after a run that did not end in sync", async () => {
      await writeRuns(fs.db, [
        makeRun({
          label: "guarded",
          finishedAt: hoursBefore(NOW, 1),
          status: "failed",
          errorCode: "shrink_guard",
          lastCompletedAt: hoursBefore(NOW, 25),
          resources: {
            companies: { api: 10, orphaned: 15, guarded: true, error: "shrink guard" },
            members: { missing: 2, written: 2 },
          },
        }),
      ]);
      const status = await getBackupStatus(fs.db, options);
      expect(status.syncHealth).toMatchObject({
        members: "healthy",
        opportunities: "healthy",
        companies: "out_of_sync",
        bookings: "healthy",
      });
      expect(status.alerts).toContainEqual({
        code: "out_of_sync",
        severity: "warning",
        message: "Out of sync after the latest backup: companies.",
      });
    });

    it("out_of_sync without per-resource reasons: the resources that had discrepancies", async () => {
      await writeRuns(fs.db, [
        makeRun({
          label: "crashed",
          finishedAt: hoursBefore(NOW, 1),
          status: "failed",
          lastCompletedAt: hoursBefore(NOW, 25),
          resources: { opportunities: { changed: 4 }, members: { missing: 1 } },
        }),
      ]);
      const status = await getBackupStatus(fs.db, options);
      expect(status.syncHealth).toMatchObject({
        members: "out_of_sync",
        opportunities: "out_of_sync",
        companies: "healthy",
        bookings: "healthy",
      });
      expect(status.alerts.map((a) => a.code)).toEqual(["backup_failed", "out_of_sync"]);
      expect(status.alerts[1]?.message).toBe(
        "Out of sync after the latest backup: members, opportunities.",
      );
    });
  });

  describe("metrics from run history", () => {
    it("success rate, time to recover, data consistency and data volume", async () => {
      const day = (d: number) => new Date(Date.UTC(2024, 0, d, 0, 10));
      await writeRuns(fs.db, [
        makeRun({ label: "d08", finishedAt: day(8) }),
        // Drift found and repaired in the same run: recovered in its own duration (60 s).
        makeRun({
          label: "d09",
          finishedAt: day(9),
          resources: { members: { missing: 5, written: 5, firestore: 145 } },
        }),
        // Failed at 00:09 on the 10th; the next completed in-sync run ends at 00:10 on the 11th.
        makeRun({ label: "d10", finishedAt: day(10), status: "failed" }),
        makeRun({
          label: "d11",
          finishedAt: day(11),
          resources: { members: { firestore: 160, api: 160 } },
        }),
        // Failed and not yet recovered from.
        makeRun({
          label: "d12",
          finishedAt: day(12),
          status: "failed",
          resources: { members: { api: null, firestore: 160 } },
        }),
      ]);
      const status = await getBackupStatus(fs.db, options);
      const m = status.metrics;
      expect(m.runsConsidered).toBe(5);
      expect(m.successRate).toEqual({ percent: 60, completed: 3, failed: 2, runs: 5 });
      expect(m.timeToRecover).toEqual({
        recoveries: 2,
        lastMs: 24 * HOUR + 60_000,
        averageMs: Math.round((60_000 + 24 * HOUR + 60_000) / 2),
        maxMs: 24 * HOUR + 60_000,
        unresolvedSince: new Date(day(12).getTime() - 60_000).toISOString(),
      });
      // Latest run could not read members: no consistency figure for it; the average covers
      // the four runs that read everything (d09: 245 of 250 in sync = 98%).
      expect(m.dataConsistency).toEqual({
        percent: null,
        inSyncRecords: null,
        totalRecords: null,
        averagePercent: 99.5,
      });
      expect(m.dataVolume.members.map((p) => [p.at.slice(0, 10), p.api, p.firestore])).toEqual([
        ["2024-01-08", 150, 150],
        ["2024-01-09", 150, 145],
        ["2024-01-10", 150, 150],
        ["2024-01-11", 160, 160],
        ["2024-01-12", null, 160],
      ]);
      expect(m.dataVolume.companies).toHaveLength(5);
    });

    it("considers at most historyLimit runs, newest first", async () => {
      const runs = Array.from({ length: 6 }, (_, i) =>
        makeRun({
          label: `r${i}`,
          finishedAt: hoursBefore(NOW, 6 - i),
          status: i < 3 ? "failed" : "completed",
        }),
      );
      await writeRuns(fs.db, runs);
      const status = await getBackupStatus(fs.db, { ...options, historyLimit: 3 });
      expect(status.metrics.successRate).toEqual({
        percent: 100,
        completed: 3,
        failed: 0,
        runs: 3,
      });
      expect(status.metrics.dataVolume.members.map((p) => p.at)).toEqual(
        runs.slice(3).map((r) => r.finishedAt.toDate().toISOString()),
      );
    });

    it("counts the metadata document's run even when its history entry is missing", async () => {
      const run = makeRun({ label: "only-metadata", finishedAt: hoursBefore(NOW, 1) });
      await metadataDoc(fs.db).set(run);
      const status = await getBackupStatus(fs.db, options);
      expect(status.metrics.successRate.runs).toBe(1);
      expect(status.backup.runId).toBe(run.runId);
    });

    it("percent of records in sync counts orphans on the Firestore side", async () => {
      await writeRuns(fs.db, [
        makeRun({
          label: "drift",
          finishedAt: hoursBefore(NOW, 1),
          resources: {
            members: { api: 100, missing: 3, changed: 2, orphaned: 5, written: 10 },
            opportunities: { api: 0, firestore: 0 },
            companies: { api: 0, firestore: 0 },
          },
        }),
      ]);
      const { dataConsistency } = (await getBackupStatus(fs.db, options)).metrics;
      // 95 of the 105 records on either side were in sync.
      expect(dataConsistency).toMatchObject({
        inSyncRecords: 95,
        totalRecords: 105,
        percent: 90.48,
      });
    });
  });

  it("reports a run in progress while its lease holds, not once it expired", async () => {
    await writeLock(fs.db, {
      runId: "manual-1",
      acquiredAt: hoursBefore(NOW, 0.1),
      expiresAt: new Date(NOW.getTime() + 10 * 60_000),
    });
    expect((await getBackupStatus(fs.db, options)).backup.inProgress).toEqual({
      runId: "manual-1",
      trigger: "manual",
      startedAt: hoursBefore(NOW, 0.1).toISOString(),
      expiresAt: new Date(NOW.getTime() + 10 * 60_000).toISOString(),
    });
    await writeLock(fs.db, {
      runId: "crashed",
      acquiredAt: hoursBefore(NOW, 2),
      expiresAt: hoursBefore(NOW, 1),
    });
    expect((await getBackupStatus(fs.db, options)).backup.inProgress).toBeNull();
  });

  it("skips (and logs) a history document that does not match the engine's format", async () => {
    const ok = makeRun({ label: "ok", finishedAt: hoursBefore(NOW, 1) });
    await writeRuns(fs.db, [ok]);
    await metadataDoc(fs.db)
      .collection(RUNS_SUBCOLLECTION)
      .doc("junk")
      .set({ startedAt: new Date(NOW), status: "weird" });
    const status = await getBackupStatus(fs.db, options);
    expect(status.metrics.runsConsidered).toBe(1);
    expect(logged).toContainEqual(
      expect.objectContaining({
        event: "status_document_invalid",
        path: `officeRndMetadata/backup-metadata/${RUNS_SUBCOLLECTION}/junk`,
      }),
    );
    expect((await listRecentBackups(fs.db, 10)).map((r) => r.runId)).toEqual([ok.runId]);
  });

  it("refuses to guess from an invalid metadata document", async () => {
    await metadataDoc(fs.db).set({ status: "completed", lastBackup: "yesterday" });
    await expect(getBackupStatus(fs.db, options)).rejects.toBeInstanceOf(
      InvalidBackupDocumentError,
    );
  });
});
