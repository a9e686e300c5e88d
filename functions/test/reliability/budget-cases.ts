import { performance } from "node:perf_hooks";
import { lockRef } from "../../src/backup/lock";
import { listBackupRuns, readBackupMetadata } from "../../src/backup/metadata";
import { shouldRetry } from "../../src/backup/run";
import { stopGraceMs } from "../../src/backup/time-budget";
import type { OfficeRndReader } from "../../src/officernd/types";
import type { ApiCase } from "./api-group";
import { seconds } from "./results";
import { logEntries } from "./suite";

/**
 * A run is never killed without a record (issue 14, item 5): it knows its time budget (the
 * function's timeout less a margin, deployed) and stops before the platform would kill it. Even
 * when a phase does not stop (a read that neither answers nor listens to its abort), the run is
 * recorded failed (`time_budget`, retryable) where operators look, a grace after the budget, and
 * frees its lease. A row of the Engine group; test/backup/time-budget.test.ts has the rest.
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

let runStartedAt = 0;

export const BUDGET_CASES: ApiCase[] = [
  {
    name: "time budget reached, a phase stuck",
    fault: `a ${BUDGET_MS} ms time budget; OfficeRnD's pages never come and the read ignores its abort`,
    expect: {
      status: "failed",
      code: "time_budget",
      retryable: true,
      message: /stopped .* at its time budget/,
    },
    writesNothing: true,
    deps: { timeBudgetMs: BUDGET_MS },
    inject: () => undefined,
    wrap: (reader) => {
      runStartedAt = performance.now();
      return stuck(reader);
    },
    check: async (r, s, row) => {
      const took = performance.now() - runStartedAt;
      // Retried by Cloud Scheduler; the record: metadata and /errors (checked for every case),
      // the history and the log; the lease free for the next run.
      expect(shouldRetry(r)).toBe(true);
      expect(await readBackupMetadata(s.db)).toMatchObject({ errorRetryable: true });
      expect((await listBackupRuns(s.db, 5)).map((run) => run.runId)).toContain(r.runId);
      const logged = logEntries()
        .filter((e) => e.runId === r.runId)
        .map((e) => e.event);
      expect(logged).toEqual(expect.arrayContaining(["backup_summary", "backup_failed"]));
      expect((await lockRef(s.db).get()).exists).toBe(false);
      expect(took).toBeGreaterThanOrEqual(BUDGET_MS);
      expect(took).toBeLessThan(BUDGET_MS + stopGraceMs(BUDGET_MS) + 3_000);
      row.notes =
        `recorded ${seconds(took)} after the start (budget ${seconds(BUDGET_MS)}, grace ` +
        `${seconds(stopGraceMs(BUDGET_MS))}): metadata, history, /errors, the log; lease released`;
    },
  },
];
