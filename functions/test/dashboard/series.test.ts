import { computeMetrics } from "../../src/status/metrics";
import { toRunSummary } from "../../src/status/status";
import {
  consistencySeries,
  recoveries,
  runConsistencyPercent,
  successRateSeries,
} from "../../dashboard/series";
import { formatDuration, formatPercent } from "../../dashboard/format";
import { twoWeeksOfRuns } from "./history";

/**
 * The dashboard's charts compute, run by run, what the status endpoint computes over the whole
 * history: each series' last point is the endpoint's figure for the same runs.
 */
describe("dashboard series against the status endpoint's metrics", () => {
  const runs = twoWeeksOfRuns(new Date("2026-12-01T12:00:00Z"));
  const newestFirst = [...runs].reverse();
  const metrics = computeMetrics(newestFirst, runs.at(-1) ?? null);
  const summaries = newestFirst.map(toRunSummary);

  it("data consistency: the latest point is the endpoint's percent; the mean is its average", () => {
    const points = consistencySeries(summaries);
    expect(points.at(-1)?.y).toBe(metrics.dataConsistency.percent);
    const known = points.map((p) => p.y).filter((y): y is number => y !== null);
    const mean = Math.round((known.reduce((a, b) => a + b, 0) / known.length) * 100) / 100;
    expect(mean).toBe(metrics.dataConsistency.averagePercent);
    // The failed run could not read members: no point, not a zero.
    expect(points.filter((p) => p.y === null)).toHaveLength(1);
  });

  it("success rate: after the last run it is the endpoint's", () => {
    expect(successRateSeries(summaries).at(-1)?.y).toBe(metrics.successRate.percent);
  });

  it("an attempt that handed over to a continuation is not a run of its own", () => {
    const latest = summaries[0];
    if (!latest) throw new Error("no runs");
    // The status endpoint leaves such history entries out of its metrics; so do the charts.
    const handedOver = { ...latest, runId: "continuing-run", status: "continuing" as const };
    const withAttempt = [handedOver, ...summaries];
    expect(successRateSeries(withAttempt)).toEqual(successRateSeries(summaries));
    expect(consistencySeries(withAttempt)).toEqual(consistencySeries(summaries));
    expect(recoveries(withAttempt)).toEqual(recoveries(summaries));
  });

  it("an incremental sync is not one of the backups the charts show", () => {
    const latest = summaries[0];
    if (!latest) throw new Error("no runs");
    // Failed and partial: counted, it would lower the success rate and the consistency.
    const incremental = {
      ...latest,
      runId: "incremental-run",
      mode: "incremental" as const,
      status: "failed" as const,
    };
    const withSync = [incremental, ...summaries];
    expect(successRateSeries(withSync)).toEqual(successRateSeries(summaries));
    expect(consistencySeries(withSync)).toEqual(consistencySeries(summaries));
  });

  it("recovery time: the same incidents, durations and unresolved start", () => {
    const found = recoveries(summaries);
    expect(found.recoveries).toHaveLength(metrics.timeToRecover.recoveries);
    expect(found.recoveries.at(-1)?.ms).toBe(metrics.timeToRecover.lastMs);
    expect(Math.max(...found.recoveries.map((r) => r.ms))).toBe(metrics.timeToRecover.maxMs);
    expect(found.unresolvedSince).toBe(metrics.timeToRecover.unresolvedSince);
  });

  it("one run's consistency is runConsistency's", () => {
    const day5 = summaries.find((s) => s.runId.endsWith("-day5"));
    expect(day5 && runConsistencyPercent(day5)).toBeLessThan(100);
  });

  it("formats figures as the page shows them", () => {
    expect(formatPercent(99.5)).toBe("99.5%");
    expect(formatPercent(100)).toBe("100%");
    expect(formatPercent(null)).toBe("–");
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(12_340)).toBe("12.3 s");
    expect(formatDuration(245_000)).toBe("4 min 5 s");
    expect(formatDuration(26 * 3_600_000)).toBe("26 h 0 min");
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe("3 d 4 h");
  });
});
