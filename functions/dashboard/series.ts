import type { BackupRunSummary } from "./types";

/**
 * The charts' series from the run history (pure). The formulas are the status endpoint's
 * (src/status/metrics.ts: runConsistency, the success rate, incidents and recoveries), applied
 * run by run; test/dashboard/series.test.ts holds each series' last point to the endpoint's
 * figure for the same runs.
 */

export interface Point {
  /** Unix seconds (uPlot's x scale). */
  x: number;
  y: number | null;
}

const seconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);
const round2 = (n: number): number => Math.round(n * 100) / 100;

export function oldestFirst(runs: readonly BackupRunSummary[]): BackupRunSummary[] {
  // Full runs that ended, as the status's metrics count them: an attempt that handed over is
  // part of its run, and an incremental sync reads only what changed.
  return runs
    .filter((r) => r.status !== "continuing" && r.mode === "full")
    .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
}

/** % of records a run found in sync; null when it could not read a data type from OfficeRnD. */
export function runConsistencyPercent(run: BackupRunSummary): number | null {
  let total = 0;
  let inSync = 0;
  for (const stats of Object.values(run.resources)) {
    if (stats.api === null) return null;
    total += stats.api + stats.orphaned;
    inSync += Math.max(0, stats.api - stats.missing - stats.changed);
  }
  return total === 0 ? 100 : round2((inSync / total) * 100);
}

export function consistencySeries(runs: readonly BackupRunSummary[]): Point[] {
  return oldestFirst(runs).map((r) => ({ x: seconds(r.finishedAt), y: runConsistencyPercent(r) }));
}

/** The success rate of the runs shown, as it stood after each run. */
export function successRateSeries(runs: readonly BackupRunSummary[]): Point[] {
  let completed = 0;
  return oldestFirst(runs).map((r, i) => {
    if (r.status === "completed") completed += 1;
    return { x: seconds(r.finishedAt), y: round2((completed / (i + 1)) * 100) };
  });
}

function foundDrift(run: BackupRunSummary): boolean {
  return Object.values(run.resources).some((s) => s.missing + s.changed + s.orphaned > 0);
}

export interface Recovery {
  /** When it ended (the run that completed in sync). */
  x: number;
  /** From the start of the run that opened it. */
  ms: number;
}

/**
 * Incidents: one opens at the start of a run that failed or found drift, and closes at the end of
 * the first run (the same one, when it repaired everything) that completed in sync.
 */
export function recoveries(runs: readonly BackupRunSummary[]): {
  recoveries: Recovery[];
  unresolvedSince: string | null;
} {
  const out: Recovery[] = [];
  let openSince: string | null = null;
  for (const run of oldestFirst(runs)) {
    if (openSince === null && (run.status === "failed" || !run.inSync || foundDrift(run))) {
      openSince = run.startedAt;
    }
    if (openSince !== null && run.status === "completed" && run.inSync) {
      out.push({
        x: seconds(run.finishedAt),
        ms: Math.max(0, Date.parse(run.finishedAt) - Date.parse(openSince)),
      });
      openSince = null;
    }
  }
  return { recoveries: out, unresolvedSince: openSince };
}
