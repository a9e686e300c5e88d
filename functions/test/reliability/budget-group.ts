import { performance } from "node:perf_hooks";
import { loadCheckpoint } from "../../src/backup/checkpoint";
import { lockRef } from "../../src/backup/lock";
import { listBackupRuns, readBackupError, readBackupMetadata } from "../../src/backup/metadata";
import { runBackup, shouldRetry } from "../../src/backup/run";
import { stopGraceMs } from "../../src/backup/time-budget";
import type { OfficeRndReader } from "../../src/officernd/types";
import { describeResult, startCaseStack, type CaseStack } from "./harness";
import { recordVersions, seedKnownContent, type KnownContent } from "./known-content";
import { seconds } from "./results";
import {
  expectConverges,
  expectNoSecrets,
  expectNothingLost,
  logEntries,
  runCase,
  type CaseGroup,
} from "./suite";

/**
 * A run is never killed without a record (issue 14, item 5): it knows its time budget (the
 * function's timeout less a margin, deployed) and stops before the platform would kill it, even
 * when a phase does not stop by itself (a read that neither answers nor listens to its abort).
 * A full run then hands over to a continuation with its position saved (the resumable-run
 * issue's form of that stop); an incremental run is recorded failed (`time_budget`, retryable).
 * Either way the lease is free. Rows of the Engine group; test/backup/time-budget.test.ts and
 * test/backup/continuation.test.ts have the finer points.
 */

const BUDGET_MS = 800;

/** A reader whose pages never come and which ignores its abort signal. */
function stuck(reader: OfficeRndReader): OfficeRndReader {
  return {
    pages: () => ({
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<never>(() => undefined) }),
    }),
    stats: () => reader.stats(),
  };
}

/** Within the budget, its grace and 3 s for a loaded machine. */
function expectStoppedInTime(took: number): void {
  expect(took).toBeGreaterThanOrEqual(BUDGET_MS);
  expect(took).toBeLessThan(BUDGET_MS + stopGraceMs(BUDGET_MS) + 3_000);
}

async function expectLeaseFree(stack: CaseStack): Promise<void> {
  expect((await lockRef(stack.db).get()).exists).toBe(false);
}

/** A stack seeded with the known content, for one case. */
async function withSeededStack(
  label: string,
  body: (stack: CaseStack, known: KnownContent) => Promise<void>,
): Promise<void> {
  const stack = await startCaseStack(label);
  try {
    await body(stack, await seedKnownContent(stack.db, stack.truth));
  } finally {
    await stack.close();
  }
}

export const BUDGET_GROUP: CaseGroup = {
  cases: 2,
  register() {
    describe("Engine: the time budget", () => {
      it("a full run reaching its budget hands over", async () => {
        await runCase(
          "Engine",
          "time budget reached (full run)",
          `a ${BUDGET_MS} ms time budget; OfficeRnD's pages never come and the read ignores its abort`,
          "continuing, in bounded time: position saved, history entry, lease released; the next attempt finishes the same run",
          async (row) => {
            await withSeededStack("budget-full", async (stack, known) => {
              const before = await recordVersions(stack.db);
              const started = performance.now();
              const result = await runBackup(
                stack.deps({ reader: stuck(stack.reader()), timeBudgetMs: BUDGET_MS }),
                { trigger: "schedule" },
              );
              const took = performance.now() - started;
              row.finalStatus = describeResult(result);
              expect(result).toMatchObject({ status: "continuing", error: null });
              expectStoppedInTime(took);
              // Recorded where a hand-over is: the history, the checkpoint, the log.
              const runs = await listBackupRuns(stack.db, 5);
              expect(runs.map((run) => [run.runId, run.status])).toEqual([
                [result.runId, "continuing"],
              ]);
              expect((await loadCheckpoint(stack.db, 5_000))?.checkpoint.runId).toBe(result.runId);
              expect(
                logEntries().some(
                  (e) => e.event === "backup_continuing" && e.runId === result.runId,
                ),
              ).toBe(true);
              expect(await readBackupMetadata(stack.db)).toBeNull();
              await expectLeaseFree(stack);
              expect(await recordVersions(stack.db)).toEqual(before);
              await expectNothingLost(row, stack, known);
              // The continuation: the same run, to its end.
              await expectConverges(row, stack, known);
              expect((await readBackupMetadata(stack.db))?.runId).toBe(result.runId);
              row.notes =
                `handed over ${seconds(took)} after the start (budget ${seconds(BUDGET_MS)}, ` +
                `grace ${seconds(stopGraceMs(BUDGET_MS))}): history entry, checkpoint, ` +
                "backup_continuing logged, lease released; the next attempt completed the same run id";
              await expectNoSecrets(stack);
            });
          },
        );
      });

      it("an incremental run cut off at its budget", async () => {
        await runCase(
          "Engine",
          "time budget reached (incremental run)",
          `a ${BUDGET_MS} ms time budget on an incremental run; OfficeRnD's pages never come and the read ignores its abort`,
          "failed (time_budget), retryable, in bounded time; /errors written, lease released",
          async (row) => {
            await withSeededStack("budget-incr", async (stack, known) => {
              // An incremental run needs a full one before it (its high-water marks).
              expect((await runBackup(stack.deps(), { trigger: "schedule" })).status).toBe(
                "completed",
              );
              const started = performance.now();
              const result = await runBackup(
                stack.deps({ reader: stuck(stack.reader()), timeBudgetMs: BUDGET_MS }),
                { trigger: "schedule", mode: "incremental" },
              );
              const took = performance.now() - started;
              row.finalStatus = describeResult(result);
              expect(result).toMatchObject({
                status: "failed",
                mode: "incremental",
                error: { code: "time_budget", retryable: true },
              });
              expect(shouldRetry(result)).toBe(true);
              expectStoppedInTime(took);
              expect(await readBackupError(stack.db, result.runId, "incremental")).toMatchObject({
                code: "time_budget",
              });
              await expectLeaseFree(stack);
              await expectNothingLost(row, stack, known);
              await expectConverges(row, stack, known);
              row.notes =
                `recorded ${seconds(took)} after the start: /errors, lease released, retried by ` +
                `Cloud Scheduler; error: “${result.error?.message ?? ""}”`;
              await expectNoSecrets(stack);
            });
          },
        );
      });
    });
  },
};
