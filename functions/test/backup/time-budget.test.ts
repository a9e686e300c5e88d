import { performance } from "node:perf_hooks";
import { loadCheckpoint } from "../../src/backup/checkpoint";
import { lockRef } from "../../src/backup/lock";
import { listBackupRuns, readBackupError, readBackupMetadata } from "../../src/backup/metadata";
import { runBackup, shouldRetry, type BackupRunResult } from "../../src/backup/run";
import {
  functionTimeBudgetMs,
  FUNCTION_TIMEOUT_MARGIN_MS,
  MIN_STOP_GRACE_MS,
  STOP_GRACE_MS,
  stopGraceMs,
} from "../../src/backup/time-budget";
import { RESOURCE_NAMES } from "../../src/officernd/resources";
import type { OfficeRndReader } from "../../src/officernd/types";
import { baseEnv, parseJsonOutput, runCli } from "../cli/run-cli";
import { captureLogsPerTest } from "../officernd/helpers";
import { differences, startStack, type Stack } from "./helpers";

/**
 * A run that reaches its time budget stops reading and writing before its function's timeout
 * would kill it, saves where it is and hands over (`continuing`), and frees its lease; the next
 * attempt goes on with the same run id. A phase that does not stop is cut off after a grace: the
 * run is then recorded failed (`time_budget`, retryable) where operators look.
 */

const logs = captureLogsPerTest();

let stack: Stack;
beforeEach(async () => {
  stack = await startStack("budget");
});
afterEach(() => stack.close());

it("a deployed function's budget is its timeout less a margin for stopping and recording", () => {
  expect(FUNCTION_TIMEOUT_MARGIN_MS).toBe(60_000);
  expect(functionTimeBudgetMs(540)).toBe(480_000);
  expect(functionTimeBudgetMs(60)).toBe(30_000);
  expect(stopGraceMs(480_000)).toBe(STOP_GRACE_MS);
  expect(stopGraceMs(8_000)).toBe(2_000);
  expect(stopGraceMs(2_000)).toBe(MIN_STOP_GRACE_MS);
});

/** Handed over: `continuing`, a history entry, the checkpoint saved, no metadata, lease free. */
async function expectHandedOver(result: BackupRunResult): Promise<void> {
  expect(result).toMatchObject({ status: "continuing", error: null, inSync: false });
  expect(shouldRetry(result)).toBe(false);
  expect(await readBackupMetadata(stack.db)).toBeNull();
  const runs = await listBackupRuns(stack.db, 5);
  expect(runs.map((r) => [r.runId, r.status])).toEqual([[result.runId, "continuing"]]);
  expect((await loadCheckpoint(stack.db, 5_000))?.checkpoint.runId).toBe(result.runId);
  expect(
    logs.entries.some((e) => e.event === "backup_continuing" && e.runId === result.runId),
  ).toBe(true);
  // No summary yet: the alerts count runs that ended.
  expect(logs.entries.some((e) => e.event === "backup_summary" && e.runId === result.runId)).toBe(
    false,
  );
  expect((await lockRef(stack.db).get()).exists).toBe(false);
}

it("stops reading at the budget and hands over; the next run goes on with the same id", async () => {
  // Each OfficeRnD page takes 400 ms: the listing needs seconds, the budget is 1 s.
  stack.sandbox.configure({ latencyMs: 400 });
  const t = performance.now();
  const result = await runBackup(stack.deps({ timeBudgetMs: 1_000 }), { trigger: "schedule" });
  const took = performance.now() - t;
  await expectHandedOver(result);
  // The budget, one request's abort, a chunk and the checkpoint: far below a function's margin.
  expect(took).toBeLessThan(1_000 + 3_000);

  stack.sandbox.configure({ latencyMs: 0 });
  const next = await runBackup(stack.deps(), { trigger: "schedule" });
  expect(next).toMatchObject({ status: "completed", runId: result.runId, continuations: 1 });
  expect(next.startedAt).toEqual(result.startedAt);
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
  expect(await loadCheckpoint(stack.db, 5_000)).toBeNull();
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
  await expectHandedOver(result);
  expect(result.written).toBeGreaterThanOrEqual(20);
  const rerun = await runBackup(stack.deps(), { trigger: "schedule" });
  // The run's totals: what every attempt wrote, once.
  expect(rerun).toMatchObject({ status: "completed", runId: result.runId, written: records });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
});

/** An OfficeRnD reader that neither answers nor listens to its abort signal. */
function stuckReader(): OfficeRndReader {
  const client = stack.reader();
  return {
    pages: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<never>(() => undefined) }),
    }),
    stats: () => client.stats(),
  };
}

it("cuts off a phase that does not stop (after a grace) and hands the full run over", async () => {
  const t = performance.now();
  const result = await runBackup(stack.deps({ reader: stuckReader(), timeBudgetMs: 800 }), {
    trigger: "schedule",
  });
  const took = performance.now() - t;
  await expectHandedOver(result);
  // Counted as a hand-over: the continuation it enqueues is the checkpoint's next one.
  expect((await loadCheckpoint(stack.db, 5_000))?.checkpoint.continuations).toBe(1);
  expect(took).toBeGreaterThanOrEqual(800);
  expect(took).toBeLessThan(800 + stopGraceMs(800) + 3_000);
});

it("records an incremental run cut off at the budget as failed (time_budget), lease freed", async () => {
  expect((await runBackup(stack.deps(), { trigger: "schedule" })).status).toBe("completed");
  const result = await runBackup(stack.deps({ reader: stuckReader(), timeBudgetMs: 800 }), {
    trigger: "schedule",
    mode: "incremental",
  });
  expect(result).toMatchObject({
    status: "failed",
    mode: "incremental",
    error: { code: "time_budget", retryable: true },
  });
  expect(shouldRetry(result)).toBe(true);
  expect(await readBackupError(stack.db, result.runId, "incremental")).toMatchObject({
    code: "time_budget",
  });
  expect((await lockRef(stack.db).get()).exists).toBe(false);
});

describe("the CLI", () => {
  it("has no budget unless BACKUP_TIME_BUDGET_SECONDS is set; then it hands over with exit 75", async () => {
    stack.sandbox.configure({ latencyMs: 400 });
    const env = baseEnv({
      ...stack.sandbox.env({ OFFICERND_READS_PER_MINUTE: "100000" }),
      GCLOUD_PROJECT: stack.fs.projectId,
      BACKUP_TIME_BUDGET_SECONDS: "1",
    });
    const stopped = await runCli(["run", "--json"], env);
    expect(stopped.code).toBe(75);
    const first = parseJsonOutput(stopped) as { runId: string; status: string };
    expect(first.status).toBe("continuing");
    expect(await readBackupMetadata(stack.db)).toBeNull();

    // `--fresh` abandons it: a new run id, from the start.
    const fresh = await runCli(["run", "--json", "--fresh"], env);
    expect(fresh.code).toBe(75);
    const second = parseJsonOutput(fresh) as { runId: string; continuations: number };
    expect(second).toMatchObject({ status: "continuing", continuations: 0 });
    expect(second.runId).not.toBe(first.runId);

    // Without a budget the next `run` goes on with it, same run id, to its end.
    stack.sandbox.configure({ latencyMs: 0 });
    const done = await runCli(["run", "--json"], { ...env, BACKUP_TIME_BUDGET_SECONDS: "" });
    expect(parseJsonOutput(done)).toMatchObject({
      status: "completed",
      error: null,
      runId: second.runId,
    });
    expect(done.code).toBe(0);
    expect(await differences(stack.db, stack.sandbox)).toEqual([]);

    const bad = await runCli(["run", "--json"], { ...env, BACKUP_TIME_BUDGET_SECONDS: "soon" });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("BACKUP_TIME_BUDGET_SECONDS");
    expect(bad.stderr).not.toContain("soon");
  });
});
