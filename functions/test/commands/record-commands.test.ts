import { Timestamp } from "firebase-admin/firestore";
import { ERRORS_COLLECTION } from "../../src/backup/documents";
import { acquireBackupLock } from "../../src/backup/lock";
import { metadataRef, runsRef } from "../../src/backup/metadata";
import { runBackup, type BackupRunResult } from "../../src/backup/run";
import { setLogSink } from "../../src/logs";
import { formatErrors, readRecentErrors } from "../../src/commands/errors-command";
import { formatHistory, readHistory } from "../../src/commands/history-command";
import { formatMetadata, readMetadata } from "../../src/commands/metadata-command";
import { backupRunSummarySchema } from "../../src/status";
import { seedFirestore, startStack, type Stack } from "../backup/helpers";

/**
 * `metadata`, `errors` and `history` read what real engine runs (sandbox over HTTP, Firestore
 * emulator) left behind. (test/cli/records.test.ts runs the same through the CLI process.)
 */

beforeAll(() => setLogSink(() => undefined));
afterAll(() => setLogSink(null));

let stack: Stack;
beforeEach(async () => {
  stack = await startStack("ops-records");
});
afterEach(() => stack.close());

async function completedThenFailed(): Promise<[BackupRunResult, BackupRunResult]> {
  const snapshot = stack.sandbox.data.snapshot();
  await seedFirestore(stack.db, { ...snapshot, members: snapshot.members.slice(3) });
  const completed = await runBackup(stack.deps(), { trigger: "cli" });
  stack.sandbox.setFault({ kind: "4xx", status: 400, resource: "companies", message: "bad" });
  const failed = await runBackup(stack.deps(), { trigger: "manual" });
  expect([completed.status, failed.status]).toEqual(["completed", "failed"]);
  return [completed, failed];
}

describe("before any run", () => {
  it("metadata: no document; errors and history: empty", async () => {
    const { report, metadata } = await readMetadata(stack.db);
    expect(report).toEqual({
      path: "officeRndMetadata/backup-metadata",
      exists: false,
      valid: false,
      issues: null,
      document: null,
      inProgress: null,
    });
    expect(metadata).toBeNull();
    expect(formatMetadata({ report, metadata })).toContain("no such document");
    expect(await readRecentErrors(stack.db, 10)).toEqual({
      collection: "errors",
      limit: 10,
      errors: [],
    });
    expect(formatErrors(await readRecentErrors(stack.db, 10))).toBe("/errors: no documents.");
    expect(await readHistory(stack.db, 10)).toEqual({ limit: 10, runs: [], invalid: [] });
    expect(formatHistory(await readHistory(stack.db, 10))).toBe("No backup runs recorded yet.");
  });
});

describe("after a completed run and a failed one", () => {
  it("metadata: the latest (failed) run as stored, timestamps as ISO strings", async () => {
    const [completed, failed] = await completedThenFailed();
    const { report, metadata } = await readMetadata(stack.db);
    expect(report).toMatchObject({ exists: true, valid: true, issues: null, inProgress: null });
    expect(metadata?.runId).toBe(failed.runId);
    expect(report.document).toMatchObject({
      runId: failed.runId,
      status: "failed",
      trigger: "manual",
      errorCode: "bad_request",
      missingRecords: 0,
      lastBackup: failed.startedAt.toISOString(),
      lastCompletedAt: completed.finishedAt.toISOString(),
    });
    const text = formatMetadata({ report, metadata });
    expect(text).toContain("officeRndMetadata/backup-metadata");
    expect(text).toMatch(/status\s+failed/);
    expect(text).toMatch(/error\s+bad_request: companies: OfficeRnD read failed/);
    expect(text).toMatch(/lastCompletedAt\s+\S+Z/);
    expect(text).toContain("No run in progress.");
  });

  it("history: both runs, newest first, as GET /v1/office-rnd/backups lists them", async () => {
    const [completed, failed] = await completedThenFailed();
    const report = await readHistory(stack.db, 10);
    expect(report.runs.map((r) => r.runId)).toEqual([failed.runId, completed.runId]);
    for (const run of report.runs) expect(() => backupRunSummarySchema.parse(run)).not.toThrow();
    expect(report.runs[1]).toMatchObject({ status: "completed", missingRecords: 3, written: 3 });
    expect((await readHistory(stack.db, 1)).runs.map((r) => r.runId)).toEqual([failed.runId]);

    const text = formatHistory(report);
    const lines = text.split("\n");
    expect(lines[0]).toBe("The 2 newest run(s) (limit 10), newest first:");
    expect(lines[2]).toMatch(
      /^started \(UTC\)\s+trigger\s+mode\s+status\s+duration\s+api\s+missing/,
    );
    expect(lines[3]).toMatch(/manual\s+full\s+failed\s.*\bbad_request$/);
    expect(lines[4]).toMatch(/cli\s+full\s+completed\s.*\s3\s+0\s+0\s+3\s+yes$/);
    expect(text).toContain(`${failed.runId}: companies: OfficeRnD read failed (bad_request)`);
  });

  it("errors: the failed run's /errors document", async () => {
    const [, failed] = await completedThenFailed();
    const report = await readRecentErrors(stack.db, 10);
    expect(report.errors).toEqual([
      {
        id: `officeRndDataBackup-${failed.runId}`,
        time: failed.finishedAt.toISOString(),
        functionName: "officeRndDataBackup",
        code: "bad_request",
        runId: failed.runId,
        trigger: "manual",
        resource: "companies",
        message: expect.stringContaining(
          "companies: OfficeRnD read failed (bad_request)",
        ) as string,
        valid: true,
        document: null,
      },
    ]);
    expect(formatErrors(report)).toContain(
      `officeRndDataBackup, trigger manual, run ${failed.runId}, resource companies`,
    );
  });
});

describe("errors: newest first, limited, other writers' documents too", () => {
  it("orders by time, honours the limit, and shows foreign documents redacted", async () => {
    const at = (iso: string) => Timestamp.fromDate(new Date(iso));
    const errors = stack.db.collection(ERRORS_COLLECTION);
    const engineDoc = (runId: string, time: string) => ({
      functionName: "officeRndDataBackup",
      runId,
      message: `run ${runId} failed`,
      code: "server",
      time: at(time),
      trigger: "schedule",
      resource: "members",
    });
    await errors.doc("a").set(engineDoc("r1", "2026-11-01T00:00:00Z"));
    await errors.doc("b").set(engineDoc("r3", "2026-11-03T00:00:00Z"));
    await errors.doc("c").set(engineDoc("r2", "2026-11-02T00:00:00Z"));
    await errors.doc("webhook-1").set({
      source: "webhook",
      error: "signature mismatch; Authorization: Bearer abc.def.ghi",
      time: at("2026-11-04T00:00:00Z"),
    });
    await errors.doc("untimed").set({ message: "no time field" });

    const report = await readRecentErrors(stack.db, 3);
    expect(report.errors.map((e) => e.id)).toEqual(["webhook-1", "b", "c"]);
    const foreign = report.errors[0];
    expect(foreign).toMatchObject({
      valid: false,
      time: "2026-11-04T00:00:00.000Z",
      code: null,
      message: expect.stringMatching(
        /^signature mismatch; Authorization: .*\[redacted\]$/,
      ) as string,
      document: {
        source: "webhook",
        error: expect.stringMatching(/^signature mismatch; .*\[redacted\]$/) as string,
        time: "2026-11-04T00:00:00.000Z",
      },
    });
    expect(JSON.stringify(report)).not.toContain("abc.def.ghi");
    const text = formatErrors(report);
    expect(text.split("\n")[0]).toBe("/errors: the 3 newest (limit 3), newest first");
    expect(text).toContain("(not written by the backup engine: fields as stored, see --json)");
    expect((await readRecentErrors(stack.db, 100)).errors).toHaveLength(4);
  });
});

describe("documents that do not match their schema", () => {
  it("metadata: reported invalid, every stored field shown", async () => {
    await metadataRef(stack.db).set({ status: "done", lastBackup: "yesterday", extra: 1 });
    const { report, metadata } = await readMetadata(stack.db);
    expect(metadata).toBeNull();
    expect(report).toMatchObject({
      exists: true,
      valid: false,
      document: { status: "done", lastBackup: "yesterday", extra: 1 },
    });
    expect(report.issues).toMatch(/lastBackup/);
    expect(formatMetadata({ report, metadata })).toContain("does NOT match the engine's schema");
  });

  it("history: a malformed run is listed as skipped, the others still shown", async () => {
    await seedFirestore(stack.db, stack.sandbox.data.snapshot());
    const good = await runBackup(stack.deps(), { trigger: "cli" });
    await runsRef(stack.db).doc("zzz-broken").set({ startedAt: Timestamp.now(), status: 7 });
    const report = await readHistory(stack.db, 10);
    expect(report.runs.map((r) => r.runId)).toEqual([good.runId]);
    expect(report.invalid).toEqual([
      {
        path: "officeRndMetadata/backup-metadata/runs/zzz-broken",
        issues: expect.any(String) as string,
      },
    ]);
    expect(formatHistory(report)).toContain(
      "Skipped officeRndMetadata/backup-metadata/runs/zzz-broken",
    );
  });
});

describe("a run holding the lock", () => {
  it("metadata shows it in progress", async () => {
    const now = new Date();
    await acquireBackupLock(stack.db, { runId: "run-in-flight", trigger: "schedule", now });
    const result = await readMetadata(stack.db, now);
    expect(result.report.inProgress).toMatchObject({ runId: "run-in-flight", trigger: "schedule" });
    expect(formatMetadata(result)).toContain("Run in progress: run-in-flight (schedule)");
  });
});
