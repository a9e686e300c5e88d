import { Timestamp } from "firebase-admin/firestore";
import {
  emptyResourceStats,
  type BackupMetadata,
  type ResourceStats,
} from "../../src/backup/documents";
import {
  InvalidBackupDocumentError,
  listBackupRuns,
  metadataRef,
  newRunId,
  readBackupError,
  readBackupMetadata,
  readBackupRuns,
  recordBackupRun,
  runsRef,
  safeErrorMessage,
  type RunRecord,
} from "../../src/backup/metadata";
import { buildRunResult, withProblem } from "../../src/backup/run-result";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";

const stats = (n: number): ResourceStats => ({ ...emptyResourceStats(), firestore: n, api: n });

function run(at: string, status: "completed" | "failed", runId = newRunId(new Date(at))) {
  const start = Timestamp.fromDate(new Date(at));
  const end = Timestamp.fromMillis(start.toMillis() + 1500);
  const record: RunRecord = {
    run: {
      lastBackup: start,
      firestoreMembers: 10,
      apiMembers: 10,
      missingRecords: 0,
      status,
      error: status === "failed" ? "members: OfficeRnD read failed (server)" : null,
      updatedAt: end,
      runId,
      trigger: "schedule",
      continuations: 0,
      startedAt: start,
      finishedAt: end,
      durationMs: 1500,
      errorCode: status === "failed" ? "server" : null,
      inSync: status === "completed",
      resources: {
        members: stats(10),
        opportunities: stats(5),
        companies: stats(2),
        locations: stats(3),
        events: stats(4),
        bookings: stats(6),
      },
      written: 0,
      errorRetryable: status === "failed",
      api: { requests: 3, tokenRequests: 1, retries: 0, throttled: 0, waitMs: 0, budget: null },
      mode: "full",
      coverage: null,
      schemaDrift: {},
    },
    failure:
      status === "failed"
        ? {
            code: "server",
            message: "members: OfficeRnD read failed (server)",
            resource: "members",
          }
        : null,
  };
  return record;
}

let fs: TestFirestore;
beforeEach(() => {
  fs = createTestFirestore("metadata");
});
afterEach(() => fs.close());

it("run ids sort by start time", () => {
  const ids = ["2026-11-25T10:00:00.000Z", "2026-11-25T10:00:00.001Z", "2027-01-01T00:00:00Z"].map(
    (t) => newRunId(new Date(t)),
  );
  expect([...ids].sort()).toEqual(ids);
  expect(ids[0]).toMatch(/^20261125T100000000Z-[0-9a-f]{6}$/);
});

it("writes the latest run, its history document and, when failed, an /errors document", async () => {
  const ok = run("2026-11-24T00:00:00Z", "completed");
  const bad = run("2026-11-25T00:00:00Z", "failed");
  await recordBackupRun(fs.db, ok);
  const stored = await recordBackupRun(fs.db, bad);
  // lastCompletedAt carries over from the completed run.
  expect(stored.lastCompletedAt).toEqual(ok.run.finishedAt);
  const latest = await readBackupMetadata(fs.db);
  expect(latest?.runId).toBe(bad.run.runId);
  expect(latest?.status).toBe("failed");
  expect((await listBackupRuns(fs.db, 10)).map((r) => r.runId)).toEqual([
    bad.run.runId,
    ok.run.runId,
  ]);
  expect(await readBackupError(fs.db, ok.run.runId)).toBeNull();
  expect(await readBackupError(fs.db, bad.run.runId)).toEqual({
    functionName: "officeRndDataBackup",
    runId: bad.run.runId,
    message: "members: OfficeRnD read failed (server)",
    code: "server",
    time: bad.run.finishedAt,
    trigger: "schedule",
    resource: "members",
  });
});

it("a run that started earlier never replaces the latest metadata", async () => {
  const newer = run("2026-11-25T00:00:00Z", "completed");
  const older = run("2026-11-24T00:00:00Z", "failed");
  await recordBackupRun(fs.db, newer);
  await recordBackupRun(fs.db, older);
  expect((await readBackupMetadata(fs.db))?.runId).toBe(newer.run.runId);
  expect((await runsRef(fs.db).doc(older.run.runId).get()).exists).toBe(true);
});

it("readers validate: a malformed latest document throws, malformed history is skipped", async () => {
  expect(await readBackupMetadata(fs.db)).toBeNull();
  const ok = run("2026-11-24T00:00:00Z", "completed");
  await recordBackupRun(fs.db, ok);
  await runsRef(fs.db).doc("29991231T000000000Z-ffffff").set({ startedAt: Timestamp.now() });
  const runs = await readBackupRuns(fs.db, 5);
  expect(runs.runs.map((r) => r.runId)).toEqual([ok.run.runId]);
  expect(runs.invalid[0]).toBeInstanceOf(InvalidBackupDocumentError);
  await metadataRef(fs.db).update({ missingRecords: "many" });
  await expect(readBackupMetadata(fs.db)).rejects.toThrow(/missingRecords/);
});

it("documents of the first schema (without the later fields) still read", async () => {
  const full = run("2026-11-24T00:00:00Z", "completed").run;
  const { written: _w, errorRetryable: _e, api: _a, ...older } = full;
  const resources = Object.fromEntries(
    Object.entries(older.resources).map(([k, v]) => {
      const { removed: _r, unstorable: _u, conflicts: _c, guarded: _g, error: _x, ...rest } = v;
      return [k, rest];
    }),
  );
  await metadataRef(fs.db).set({ ...older, resources, lastCompletedAt: null });
  const read = (await readBackupMetadata(fs.db)) as BackupMetadata;
  expect(read.written).toBe(0);
  expect(read.api).toBeNull();
  expect(read.resources.members.guarded).toBe(false);
});

it("error messages carry no credentials and stay one short line", () => {
  const message = safeErrorMessage(
    "POST failed: Authorization: Bearer abc.def-123 client_secret=s3cr3t&x=1\n token: 'xyz'",
  );
  expect(message).not.toMatch(/abc\.def|s3cr3t|xyz/);
  expect(message).not.toContain("\n");
  expect(safeErrorMessage("x".repeat(2000)).length).toBeLessThanOrEqual(500);
});

it("a problem added to a run's long error is kept whole; the earlier message is shortened", () => {
  // CI saw "…could not record the run: no answer from Fire…": the added problem was cut off
  // after a message of several write failures had used up the 500 characters.
  const long = Array.from({ length: 12 }, (_, i) => `members ${i}: no answer from Firestore`);
  const run = withProblem(
    buildRunResult(
      {
        runId: "20261202T000000000Z-abcdef",
        trigger: "schedule",
        mode: "full",
        startedAt: new Date(0),
      },
      {
        finishedAt: new Date(1),
        durationMs: 1,
        problems: [
          { code: "firestore_write", message: long.join("; "), retryable: true, resource: null },
        ],
      },
    ),
    {
      code: "metadata_write",
      message: "could not record the run: no answer from Firestore within 2500 ms",
      retryable: true,
      resource: null,
    },
  );
  expect(run.error?.code).toBe("firestore_write");
  expect(run.error?.message.length).toBeLessThanOrEqual(500);
  expect(run.error?.message).toMatch(/^members 0: no answer from Firestore; .*…; could not record/);
  expect(run.error?.message).toMatch(
    /could not record the run: no answer from Firestore within 2500 ms$/,
  );
});
