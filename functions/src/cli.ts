#!/usr/bin/env -S node --max-old-space-size=256 --max-semi-space-size=2
import { parseArgs } from "node:util";
import { ConfigError, loadAlertThreshold, loadBackupConfig, loadOfficeRndConfig } from "./config";
import type { Firestore } from "firebase-admin/firestore";
import {
  checkFirestoreReachable,
  closeDefaultApp,
  defaultFirestore,
  FirestoreUnreachableError,
} from "./firebase";
import { listen } from "./http";
import { DASHBOARD_DIR, dashboardBuilt } from "./http/dashboard";
import { setLogSink, type LogEntry } from "./logs";
import { checkOfficeRnd, formatCheck } from "./commands/check-command";
import { DEFAULT_LIMIT, formatReadBudget, formatRunNotes, limitSchema } from "./commands/format";
import { formatErrors, readRecentErrors } from "./commands/errors-command";
import { formatHistory, readHistory } from "./commands/history-command";
import { formatMetadata, readMetadata } from "./commands/metadata-command";
import { createProductApp, runBackupNow, startBackup } from "./wiring";
import { selectResources } from "./officernd/resources";
import { getBackupStatus } from "./status";
import type { BackupRunResult } from "./backup/run";
import { RUN_MODES, type RunMode } from "./backup/documents";

/**
 * officernd-backup: the operator's command line. Same engine, same app, same configuration
 * (environment variables named like the functions' params) as the deployed functions.
 * Logs go to stderr (human lines on a terminal, JSON lines otherwise); results go to stdout.
 *
 * The shebang sets the V8 heap the functions get from NODE_OPTIONS in functions/.env (and
 * `npm run cli` passes the same flags to tsx): without them Node sizes the heap from the
 * machine's RAM (on a 24 GiB machine a 4 GiB old generation and semi-spaces growing to 64 MiB),
 * and a 100,000-record run peaks at ~430 MiB of RSS of mostly garbage not yet collected instead
 * of ~150 (docs/scaling.md, Memory). `env -S` splits the flags (GNU coreutils 8.30+, macOS,
 * FreeBSD); where env has no -S, run `node --max-old-space-size=256 --max-semi-space-size=2
 * lib/cli.js`.
 */

export class UsageError extends Error {}

function humanLine(entry: LogEntry): string {
  const time = new Date().toISOString().slice(11, 19);
  return `${time} ${entry.severity.padEnd(7)} ${entry.message}`;
}

/** Logs to stderr: readable on a terminal (progress), JSON lines for machines. */
export function cliLogSink(stream: NodeJS.WriteStream = process.stderr, verbose = false) {
  const human = stream.isTTY === true;
  return (entry: LogEntry) => {
    if (entry.severity === "DEBUG" && !verbose) return;
    stream.write(human ? `${humanLine(entry)}\n` : `${JSON.stringify(entry)}\n`);
  };
}

export function formatRun(result: BackupRunResult): string {
  const lines = [
    `${result.mode === "full" ? "Backup" : "Incremental sync"} ${result.runId} (${result.trigger}): ${result.status.toUpperCase()} in ${(result.durationMs / 1000).toFixed(1)} s`,
    `  ${"resource".padEnd(14)}${["firestore", "api", "missing", "changed", "orphaned", "written"].map((h) => h.padStart(10)).join("")}`,
  ];
  for (const [name, s] of Object.entries(result.resources)) {
    const cells = [s.firestore, s.api ?? "-", s.missing, s.changed, s.orphaned, s.written];
    lines.push(`  ${name.padEnd(14)}${cells.map((c) => String(c).padStart(10)).join("")}`);
  }
  lines.push(
    `  missing records: ${result.missingRecords}, documents written: ${result.written}, in sync: ${result.inSync ? "yes" : "no"}`,
  );
  lines.push(`  OfficeRnD read budget: ${formatReadBudget(result.api.budget)}`);
  lines.push(...formatRunNotes(result));
  if (result.error) lines.push(`  error (${result.error.code}): ${result.error.message}`);
  return lines.join("\n");
}

function out(text: string) {
  process.stdout.write(`${text}\n`);
}

/** The default Firestore, once one bounded call has shown it answers (firebase.ts). */
async function firestore(): Promise<Firestore> {
  const db = defaultFirestore();
  await checkFirestoreReachable(db);
  return db;
}

/** EX_TEMPFAIL (sysexits.h): not done yet, try again; the next `run` goes on with the run. */
export const EXIT_CONTINUING = 75;

function exitCodeOf(result: BackupRunResult): number {
  if (result.status === "continuing") return EXIT_CONTINUING;
  return result.status === "completed" ? 0 : 1;
}

interface Options {
  json: boolean;
  mode?: string;
  fresh: boolean;
  port?: string;
  host: string;
  limit?: string;
}

/** One command: how it is called, what it does, and the code that does it. */
interface Command {
  name: string;
  /** Options after the name, as shown in the usage. */
  usage: string;
  /** One or more lines. */
  summary: string;
  /** Takes `--limit`. */
  limit?: boolean;
  run(options: Options, limit: number): Promise<number>;
}

const COMMANDS: readonly Command[] = [
  {
    name: "run",
    usage: "[--json] [--fresh] [--mode M]",
    summary:
      "run one backup now (exit 0 completed, 1 failed or busy, 75 continuing: the run\n" +
      "stopped at BACKUP_TIME_BUDGET_SECONDS with its position saved; the next `run` goes\n" +
      "on with it, same run id; --fresh abandons an unfinished run and starts over)\n" +
      "--mode full (default) or incremental: only records modified since the last run,\n" +
      "no removals, backup-metadata left as the last full backup's",
    async run({ json, fresh, mode }) {
      const result = await runBackupNow({ db: await firestore() }, "cli", {
        fresh,
        mode: parseMode(mode),
      });
      out(json ? JSON.stringify(result) : formatRun(result));
      return exitCodeOf(result);
    },
  },
  {
    name: "status",
    usage: "[--json]",
    summary: "print what GET /v1/office-rnd/backup-status serves",
    async run({ json }) {
      const status = await getBackupStatus(await firestore(), {
        missingAlertThreshold: loadAlertThreshold(process.env),
      });
      out(JSON.stringify(status, null, json ? undefined : 2));
      return 0;
    },
  },
  {
    name: "serve",
    usage: "[--port N] [--host H]",
    summary: "serve the HTTP API and the dashboard at / (default 127.0.0.1:8787)",
    run: ({ port, host }) => serve(parsePort(port), host),
  },
  {
    name: "metadata",
    usage: "[--json]",
    summary:
      "print /officeRndMetadata/backup-metadata and the run lock\n" +
      "(exit 1 when there is none or it does not match its schema)",
    async run({ json }) {
      const result = await readMetadata(await firestore());
      out(json ? JSON.stringify(result.report) : formatMetadata(result));
      return result.report.exists && result.report.valid ? 0 : 1;
    },
  },
  {
    name: "errors",
    usage: "[--limit N] [--json]",
    summary: "the newest N documents of /errors, newest first (default 10)",
    limit: true,
    async run({ json }, limit) {
      const report = await readRecentErrors(await firestore(), limit);
      out(json ? JSON.stringify(report) : formatErrors(report));
      return 0;
    },
  },
  {
    name: "history",
    usage: "[--limit N] [--json]",
    summary: "the newest N backup runs: status, counts, duration, written",
    limit: true,
    async run({ json }, limit) {
      const report = await readHistory(await firestore(), limit);
      out(json ? JSON.stringify(report) : formatHistory(report));
      return 0;
    },
  },
  {
    name: "check",
    usage: "[--json]",
    summary:
      "test OfficeRnD connectivity: token, scopes, one page of each\n" +
      "resource, read budget, latency; a verdict per step\n" +
      "(exit 0 only if all pass)",
    async run({ json }) {
      const resources = selectResources(loadBackupConfig(process.env).resourceNames);
      const report = await checkOfficeRnd(loadOfficeRndConfig(process.env), { resources });
      out(json ? JSON.stringify(report) : formatCheck(report));
      return report.ok ? 0 : 1;
    },
  },
];

/** The usage text, from the command table. */
export function usage(): string {
  const rows = COMMANDS.flatMap((c) => {
    const [first = "", ...more] = c.summary.split("\n");
    const head = `${c.name} ${c.usage}`.padEnd(31);
    return [`  ${head}${first}`, ...more.map((line) => `  ${"".padEnd(31)}${line}`)];
  });
  return [
    "Usage: officernd-backup <command> [options]",
    "",
    "Commands:",
    ...rows,
    "",
    "Human-readable text by default; --json prints one JSON object on stdout. Logs go to stderr.",
    "Exit codes: 0 success, 1 failure (see above), 2 usage or configuration error.",
    "",
    "Configuration comes from environment variables (see README): OFFICERND_ORG_SLUG,",
    "OFFICERND_CLIENT_ID, OFFICERND_CLIENT_SECRET, OFFICERND_API_URL, OFFICERND_TOKEN_URL,",
    "BACKUP_STATUS_TOKEN, GCLOUD_PROJECT, FIRESTORE_EMULATOR_HOST, …",
    "(metadata, errors and history read Firestore only; check reads OfficeRnD only.)",
  ].join("\n");
}

function parsePort(value: string | undefined): number {
  const port = Number(value ?? "8787");
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`--port must be a port number, got ${value}`);
  }
  return port;
}

/** `--mode` of `run`: full (default) or incremental. */
function parseMode(value: string | undefined): RunMode {
  if (value === undefined) return "full";
  const mode = RUN_MODES.find((m) => m === value);
  if (mode === undefined) {
    throw new UsageError(`--mode must be ${RUN_MODES.join(" or ")}, got ${value}`);
  }
  return mode;
}

function parseLimit(command: Command, value: string | undefined): number {
  if (value === undefined) return DEFAULT_LIMIT;
  if (!command.limit) {
    const takers = COMMANDS.filter((c) => c.limit).map((c) => c.name);
    throw new UsageError(`--limit applies to ${takers.join(" and ")} only`);
  }
  const parsed = limitSchema.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(
      `--limit ${parsed.error.issues[0]?.message ?? "is invalid"}, got ${value}`,
    );
  }
  return parsed.data;
}

async function serve(port: number, host: string): Promise<number> {
  const db = await firestore();
  const app = createProductApp({
    db,
    dashboardDir: DASHBOARD_DIR,
    // Here the process stays up, so the run simply goes on after the 202.
    startManualBackup: (trigger) => startBackup({ db }, trigger),
  });
  const server = await listen(app, { port, host });
  process.stderr.write(`Serving the backup API on ${server.url} (Ctrl-C stops)\n`);
  process.stderr.write(
    dashboardBuilt()
      ? `Dashboard: ${server.url}/ (sign in with BACKUP_STATUS_TOKEN)\n`
      : "Dashboard not built: run `npm run build:dashboard`, then restart serve\n",
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      void server.close().finally(resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      fresh: { type: "boolean", default: false },
      mode: { type: "string" },
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      limit: { type: "string" },
      verbose: { type: "boolean", short: "v", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [name, ...rest] = positionals;
  if (values.help || !name) {
    out(usage());
    return name || values.help ? 0 : 2;
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0]}`);
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command: ${name}`);
  const limit = parseLimit(command, values.limit);
  if (values.mode !== undefined && command.name !== "run") {
    throw new UsageError("--mode applies to run only");
  }
  setLogSink(cliLogSink(process.stderr, values.verbose));
  try {
    return await command.run(values, limit);
  } finally {
    await closeDefaultApp();
  }
}

/** One line on stderr, then exit now: calls to an unreachable Firestore are still being retried. */
function exitAfter(line: string, code: number): void {
  process.stderr.write(`officernd-backup: ${line}\n`, () => process.exit(code));
}

if (require.main === module) {
  // The Google client libraries can leave a rejection unhandled (e.g. no Application Default
  // Credentials): one line, not a stack trace.
  process.on("unhandledRejection", (reason) => {
    exitAfter(reason instanceof Error ? reason.message : String(reason), 1);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const parseError = (error as { code?: unknown }).code;
      if (typeof parseError === "string" && parseError.startsWith("ERR_PARSE_ARGS")) {
        process.stderr.write(`officernd-backup: ${(error as Error).message}\n${usage()}\n`);
        process.exitCode = 2;
        return;
      }
      if (error instanceof FirestoreUnreachableError) {
        exitAfter(error.message, 1);
        return;
      }
      if (error instanceof ConfigError || error instanceof UsageError) {
        process.stderr.write(`officernd-backup: ${error.message}\n`);
        if (error instanceof UsageError) process.stderr.write(`${usage()}\n`);
        process.exitCode = 2;
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`officernd-backup: ${message}\n`);
      process.exitCode = 1;
    },
  );
}
