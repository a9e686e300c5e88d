import { performance } from "node:perf_hooks";
import { onLogEntry, setLogSink, type LogEntry } from "../../src/logs";
import { converge, healOfficeRnd, leakedSecrets, storedTexts, type CaseStack } from "./harness";
import { auditDocuments, type KnownContent } from "./known-content";
import {
  formatTable,
  machineFacts,
  resultsPath,
  seconds,
  writeReport,
  type ResultRow,
} from "./results";

/**
 * The suite's rows: each case opens one (or more), its body fills in what the run showed, and the
 * report is written when the suite ends (./results.ts). Also the checks every case makes: nothing
 * lost, one normal run converges, no secret anywhere.
 */

/** A group of the table: registers its describe block; its `cases` rows make the table whole. */
export interface CaseGroup {
  cases: number;
  register(): void;
}

const rows: ResultRow[] = [];
let entries: LogEntry[] = [];

/** The log entries of the current case (every entry since it started). */
export function logEntries(): readonly LogEntry[] {
  return entries;
}

/** Starts the log capture afresh (each case does; a case with several rows once). */
export function clearLogs(): void {
  entries = [];
}

/**
 * The suite: captures the product's log entries, registers the groups in order, and writes the
 * results when it ends (complete only when every group's rows are there).
 */
export function registerSuite(groups: readonly CaseGroup[]): void {
  let stopListening: () => void = () => undefined;
  let started = 0;
  beforeAll(() => {
    started = performance.now();
    setLogSink(() => undefined);
    stopListening = onLogEntry((entry) => entries.push(entry));
  });
  afterAll(() => {
    stopListening();
    setLogSink(null);
    const expectedCases = groups.reduce((sum, g) => sum + g.cases, 0);
    const report = {
      generatedAt: new Date().toISOString(),
      machine: machineFacts(),
      suiteMs: Math.round(performance.now() - started),
      complete: rows.length === expectedCases,
      expectedCases,
      rows,
    };
    writeReport(report);
    const passed = rows.filter((r) => r.outcome === "pass").length;
    process.stdout.write(
      `\nReliability suite: ${passed}/${rows.length} cases passed (${expectedCases} in the table) ` +
        `in ${seconds(report.suiteMs)}; results in ${resultsPath()}\n\n${formatTable(rows)}\n\n`,
    );
  });
  for (const group of groups) group.register();
}

export function openRow(
  group: ResultRow["group"],
  name: string,
  fault: string,
  expected: string,
): ResultRow {
  const row: ResultRow = {
    group,
    case: name,
    fault,
    expected,
    outcome: "fail",
    finalStatus: "not reached",
    runsToConverge: null,
    documentsLost: null,
    durationMs: 0,
    notes: "",
    failure: null,
  };
  rows.push(row);
  return row;
}

/** Jest colours its assertion messages; the report keeps the text. */
const ANSI_COLOURS = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

/** Runs a case body for a row: pass when it returns, fail (and rethrow) when an assertion fails. */
export async function track(row: ResultRow, body: () => Promise<void>): Promise<void> {
  const started = performance.now();
  try {
    await body();
    row.outcome = "pass";
  } catch (error) {
    row.outcome = "fail";
    const text = error instanceof Error ? error.message : String(error);
    row.failure = text.replace(ANSI_COLOURS, "").split("\n").slice(0, 8).join(" ").trim();
    throw error;
  } finally {
    row.durationMs = Math.round(performance.now() - started);
  }
}

/** One case, one row: the log capture starts afresh, the row records the body's outcome. */
export function runCase(
  group: ResultRow["group"],
  name: string,
  fault: string,
  expected: string,
  body: (row: ResultRow) => Promise<void>,
): Promise<void> {
  clearLogs();
  const row = openRow(group, name, fault, expected);
  return track(row, () => body(row));
}

// ---- Common checks ---------------------------------------------------------------------------------

export async function expectNothingLost(
  row: ResultRow,
  stack: CaseStack,
  known: KnownContent,
): Promise<void> {
  const lost = await auditDocuments(stack.db, known);
  row.documentsLost = Math.max(row.documentsLost ?? 0, lost.length);
  expect(lost).toEqual([]);
}

/** Heals OfficeRnD, runs normal runs until Firestore equals it: one must do. */
export async function expectConverges(
  row: ResultRow,
  stack: CaseStack,
  known: KnownContent,
): Promise<void> {
  healOfficeRnd(stack);
  const converged = await converge(stack);
  row.runsToConverge = converged.runs;
  expect(converged.remaining).toEqual([]);
  expect(converged.runs).toBe(1);
  await expectNothingLost(row, stack, known);
}

export async function expectNoSecrets(
  stack: CaseStack,
  more: readonly string[] = [],
): Promise<void> {
  const texts = [
    ...entries.map((e) => JSON.stringify(e)),
    ...(await storedTexts(stack.db)),
    ...more,
  ];
  expect(leakedSecrets(texts, stack.secrets())).toEqual([]);
}

export function excerpt(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Fails with the case's label, so a table of requests says which one broke. */
export function expectOneOf(
  label: string,
  status: number | null,
  allowed: readonly (number | null)[],
): void {
  if (!allowed.includes(status)) {
    throw new Error(`${label}: answered ${status ?? "nothing"}, expected ${allowed.join(" or ")}`);
  }
}

/** `401×2, 413×1, closed×1`: what a list of requests got. */
export function tally(statuses: readonly (number | string | null)[]): string {
  const counts = new Map<string, number>();
  for (const status of statuses) {
    const key = status === null ? "closed" : String(status);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .sort()
    .map(([key, n]) => `${key}×${n}`)
    .join(", ");
}
