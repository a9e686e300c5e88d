import { readFileSync, writeFileSync } from "node:fs";
import { cpus, platform, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { z } from "zod";

/**
 * The reliability suite's results: one row per case, written as JSON by the suite itself (not by
 * jest's globalTeardown) and rendered into docs/reliability.md by scripts/reliability-report.ts.
 */

export const GROUPS = [
  "OfficeRnD",
  "Engine",
  "Firestore",
  "Leases",
  "Concurrency",
  "Webhooks",
  "HTTP",
  "CLI",
] as const;

export const resultRowSchema = z.object({
  group: z.enum(GROUPS),
  case: z.string(),
  /** What was done to the system, in a few words. */
  fault: z.string(),
  /** What the case expects, e.g. `failed (server), retryable`. */
  expected: z.string(),
  outcome: z.enum(["pass", "fail"]),
  /** What the faulted run (or the HTTP check) ended with. */
  finalStatus: z.string(),
  /** Normal runs after the fault cleared until Firestore equalled OfficeRnD; null if never. */
  runsToConverge: z.number().int().min(0).nullable(),
  /** Known-good documents deleted, blanked or overwritten with invalid data (must be 0). */
  documentsLost: z.number().int().min(0).nullable(),
  durationMs: z.number().min(0),
  notes: z.string(),
  /** The assertion that failed, when outcome is fail. */
  failure: z.string().nullable(),
});
export type ResultRow = z.infer<typeof resultRowSchema>;

export const machineSchema = z.object({
  node: z.string(),
  platform: z.string(),
  cores: z.number().int(),
  cpu: z.string(),
  memoryGiB: z.number(),
});
export type Machine = z.infer<typeof machineSchema>;

export const reportSchema = z.object({
  generatedAt: z.string(),
  machine: machineSchema,
  /** Wall time of the whole suite (first case start to last case end). */
  suiteMs: z.number(),
  /** Every case of the table ran (false when jest filtered some out). */
  complete: z.boolean(),
  expectedCases: z.number().int(),
  rows: z.array(resultRowSchema),
});
export type ReliabilityReport = z.infer<typeof reportSchema>;

/** Where the suite writes and the report script reads the results (RELIABILITY_RESULTS overrides). */
export function resultsPath(): string {
  return process.env.RELIABILITY_RESULTS ?? join(tmpdir(), "officernd-backup-reliability.json");
}

export function machineFacts(): Machine {
  const list = cpus();
  return {
    node: process.version,
    platform: `${platform()} ${release()}`,
    cores: list.length,
    cpu: (list[0]?.model ?? "unknown").replace(/\s+/g, " ").trim(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  };
}

export function writeReport(report: ReliabilityReport, path = resultsPath()): void {
  writeFileSync(path, `${JSON.stringify(reportSchema.parse(report), null, 2)}\n`);
}

export function readReport(path = resultsPath()): ReliabilityReport {
  return reportSchema.parse(JSON.parse(readFileSync(path, "utf8")));
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function cell(value: number | null): string {
  return value === null ? "–" : String(value);
}

/** The table as plain text, for the end of the suite's output. */
export function formatTable(rows: readonly ResultRow[]): string {
  const header = ["group", "case", "outcome", "final status", "runs", "lost", "time"];
  const body = rows.map((r) => [
    r.group,
    r.case,
    r.outcome === "pass" ? "pass" : "FAIL",
    r.finalStatus,
    cell(r.runsToConverge),
    cell(r.documentsLost),
    seconds(r.durationMs),
  ]);
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}
