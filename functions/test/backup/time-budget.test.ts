import { performance } from "node:perf_hooks";
import { lockRef } from "../../src/backup/lock";
import { listBackupRuns, readBackupError, readBackupMetadata } from "../../src/backup/metadata";
import { runBackup, shouldRetry, type BackupRunResult } from "../../src/backup/run";
import {
  functionTimeBudgetMs,
  FUNCTION_TIMEOUT_MARGIN_MS,
  STOP_GRACE_MS,
  stopGraceMs,
} from "../../src/backup/time-budget";
import { RESOURCE_NAMES } from "../../src/officernd/resources";
import type { OfficeRndReader } from "../../src/officernd/types";
import { baseEnv, parseJsonOutput, runCli } from "../cli/run-cli";
import { captureLogs } from "../officernd/helpers";
import { differences, startStack, updateTimes, type Stack } from "./helpers";

/**
 * A run that reaches its time budget stops reading and writing before its function's timeout
 * would kill it, records a failed run (`time_budget`, retryable) where operators look, and frees
 * its lease; the next run goes on from what it wrote.
 */

const logs = captureLogs();
afterAll(() => logs.stop());

let stack: Stack;
beforeEach(async () => {
  logs.entries.length = 0;
  stack = await startStack("budget");
});
afterEach(() => stack.close());

/** Recorded as a failed, retryable `time_budget` run: metadata, history, /errors, the log. */
async function expectRecordedStop(result: BackupRunResult): Promise<void> {
  expect(result).toMatchObject({
    status: "failed",
    error: { code: "time_budget", retryable: true },
  });
  expect(result.error?.message).toMatch(/stopped .* at its time budget/);
  expect(shouldRetry(result)).toBe(true);
  expect(await readBackupMetadata(stack.db)).toMatchObject({
    runId: result.runId,
    status: "failed",
    errorCode: "time_budget",
    errorRetryable: true,
  });
  expect((await listBackupRuns(stack.db, 5)).map((r) => r.runId)).toContain(result.runId);
  expect(await readBackupError(stack.db, result.runId)).toMatchObject({ code: "time_budget" });
  const logged = logs.entries.filter((e) => e.runId === result.runId).map((e) => e.event);
  expect(logged).toEqual(expect.arrayContaining(["backup_summary", "backup_failed"]));
  // The lease is free: the next run need not wait.
  expect((await lockRef(stack.db).get()).exists).toBe(false);
}

it("a deployed function's budget is its timeout less a margin for stopping and recording", () => {
  expect(FUNCTION_TIMEOUT_MARGIN_MS).toBe(60_000);
  expect(functionTimeBudgetMs(540)).toBe(480_000);
  expect(functionTimeBudgetMs(60)).toBe(30_000);
  expect(stopGraceMs(480_000)).toBe(STOP_GRACE_MS);
  expect(stopGraceMs(2_000)).toBe(500);
});

it("stops reading at the budget: nothing written, recorded failed, lease released", async () => {
  // Each OfficeRnD page takes 400 ms: the listing needs seconds, the budget is 1 s.
  stack.sandbox.configure({ latencyMs: 400 });
  const before = await updateTimes(stack.db);
  const t = performance.now();
  const result = await runBackup(stack.deps({ timeBudgetMs: 1_000 }), { trigger: "schedule" });
  const took = performance.now() - t;
  await expectRecordedStop(result);
  expect(result.error?.message).toMatch(/stopped reading/);
  expect(result.written).toBe(0);
  expect(await updateTimes(stack.db)).toEqual(before);
  // The budget, one request's abort and the record: far below a function's margin.
  expect(took).toBeLessThan(1_000 + 3_000);

  stack.sandbox.configure({ latencyMs: 0 });
  expect((await runBackup(stack.deps(), { trigger: "schedule" })).status).toBe("completed");
});

it("stops writing at the budget after the chunk in flight; the next run converges", async () => {
  const records = RESOURCE_NAMES.reduce((sum, r) => sum + stack.sandbox.data[r].size, 0);
  // Long enough for the reads on a loaded machine; the first chunk then outlasts it.
  const budgetMs = 6_000;
  await stack.db.collection("warm-up").limit(1).get(); // the first gRPC connection takes seconds
  const started = performance.now();
  const result = await runBackup(
    stack.deps({
      writeChunkSize: 20,
      timeBudgetMs: budgetMs,
      hooks: {
        // The first chunk takes the run past its budget.
        afterWriteChunk: async ({ chunk }) => {
          const pastBudget = started + budgetMs + 100 - performance.now();
          if (chunk === 1) await new Promise((r) => setTimeout(r, pastBudget));
        },
      },
    }),
    { trigger: "manual" },
  );
  await expectRecordedStop(result);
  expect(result.error?.message).toMatch(/stopped syncing/);
  expect(result.written).toBe(20);
  const rerun = await runBackup(stack.deps(), { trigger: "schedule" });
  expect(rerun).toMatchObject({ status: "completed", written: records - 20 });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
});

it("records the run at the budget even when a phase does not stop (after a grace)", async () => {
  // An OfficeRnD reader that neither answers nor listens to its abort signal.
  const client = stack.reader();
  const stuck: OfficeRndReader = {
    pages: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<never>(() => undefined) }),
    }),
    stats: () => client.stats(),
  };
  const t = performance.now();
  const result = await runBackup(stack.deps({ reader: stuck, timeBudgetMs: 800 }), {
    trigger: "schedule",
  });
  const took = performance.now() - t;
  await expectRecordedStop(result);
  expect(took).toBeGreaterThanOrEqual(800);
  expect(took).toBeLessThan(800 + stopGraceMs(800) + 3_000);
});

describe("the CLI", () => {
  it("has no budget unless BACKUP_TIME_BUDGET_SECONDS is set; then it stops and exits 1", async () => {
    stack.sandbox.configure({ latencyMs: 400 });
    const env = baseEnv({
      ...stack.sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }),
      GCLOUD_PROJECT: stack.fs.projectId,
      BACKUP_TIME_BUDGET_SECONDS: "1",
    });
    const stopped = await runCli(["run", "--json"], env);
    expect(stopped.code).toBe(1);
    expect(parseJsonOutput(stopped)).toMatchObject({
      status: "failed",
      error: { code: "time_budget", retryable: true },
    });
    expect(await readBackupMetadata(stack.db)).toMatchObject({ errorCode: "time_budget" });

    const bad = await runCli(["run", "--json"], { ...env, BACKUP_TIME_BUDGET_SECONDS: "soon" });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("BACKUP_TIME_BUDGET_SECONDS");
    expect(bad.stderr).not.toContain("soon");
  });
});
