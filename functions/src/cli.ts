#!/usr/bin/env node
import { parseArgs } from "node:util";
import { ConfigError, loadAlertThreshold, loadOfficeRndConfig } from "./config";
import { closeDefaultApp, defaultFirestore } from "./firebase";
import { listen } from "./http";
import { setLogSink, type LogEntry } from "./logs";
import { checkOfficeRnd, formatCheck } from "./commands/check-command";
import { DEFAULT_LIMIT, formatReadBudget, limitSchema } from "./commands/format";
import { formatErrors, readRecentErrors } from "./commands/errors-command";
import { formatHistory, readHistory } from "./commands/history-command";
import { formatMetadata, readMetadata } from "./commands/metadata-command";
import { createProductApp, runBackupNow, startBackup } from "./runtime";
import { getBackupStatus } from "./status";
import type { BackupRunResult } from "./backup/run";

/**
 * officernd-backup: the operator's command line. Same engine, same app, same configuration
 * (environment variables named like the functions' params) as the deployed functions.
 * Logs go to stderr (human lines on a terminal, JSON lines otherwise); results go to stdout.
 */

const USAGE = `Usage: officernd-backup <command> [options]

Commands:
  run [--json]                   run one backup now (exit 0 completed, 1 failed or busy)
  status [--json]                print what GET /v1/office-rnd/backup-status serves
  serve [--port N] [--host H]    serve the HTTP API (default 127.0.0.1:8787)
  metadata [--json]              print /officeRndMetadata/backup-metadata and the run lock
                                 (exit 1 when there is none or it does not match its schema)
  errors [--limit N] [--json]    the newest N documents of /errors, newest first (default 10)
  history [--limit N] [--json]   the newest N backup runs: status, counts, duration, written
  check [--json]                 test OfficeRnD connectivity: token, scopes, one page of each
                                 resource, latency; a verdict per step (exit 0 only if all pass)

Human-readable text by default; --json prints one JSON object on stdout. Logs go to stderr.
Exit codes: 0 success, 1 failure (see above), 2 usage or configuration error.

Configuration comes from environment variables (see README): OFFICERND_ORG_SLUG,
OFFICERND_CLIENT_ID, OFFICERND_CLIENT_SECRET, OFFICERND_API_URL, OFFICERND_TOKEN_URL,
BACKUP_STATUS_TOKEN, GCLOUD_PROJECT, FIRESTORE_EMULATOR_HOST, …
(metadata, errors and history read Firestore only; check reads OfficeRnD only.)`;

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
    `Backup ${result.runId} (${result.trigger}): ${result.status.toUpperCase()} in ${(result.durationMs / 1000).toFixed(1)} s`,
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
  if (result.error) lines.push(`  error (${result.error.code}): ${result.error.message}`);
  return lines.join("\n");
}

function out(text: string) {
  process.stdout.write(`${text}\n`);
}

async function commandRun(json: boolean): Promise<number> {
  const result = await runBackupNow({ db: defaultFirestore() }, "cli");
  if (json) out(JSON.stringify(result));
  else out(formatRun(result));
  return result.status === "completed" ? 0 : 1;
}

async function commandStatus(json: boolean): Promise<number> {
  const status = await getBackupStatus(defaultFirestore(), {
    missingAlertThreshold: loadAlertThreshold(process.env),
  });
  out(JSON.stringify(status, null, json ? undefined : 2));
  return 0;
}

async function commandMetadata(json: boolean): Promise<number> {
  const result = await readMetadata(defaultFirestore());
  out(json ? JSON.stringify(result.report) : formatMetadata(result));
  return result.report.exists && result.report.valid ? 0 : 1;
}

async function commandErrors(json: boolean, limit: number): Promise<number> {
  const report = await readRecentErrors(defaultFirestore(), limit);
  out(json ? JSON.stringify(report) : formatErrors(report));
  return 0;
}

async function commandHistory(json: boolean, limit: number): Promise<number> {
  const report = await readHistory(defaultFirestore(), limit);
  out(json ? JSON.stringify(report) : formatHistory(report));
  return 0;
}

async function commandCheck(json: boolean): Promise<number> {
  const report = await checkOfficeRnd(loadOfficeRndConfig(process.env));
  out(json ? JSON.stringify(report) : formatCheck(report));
  return report.ok ? 0 : 1;
}

async function commandServe(port: number, host: string): Promise<number> {
  const db = defaultFirestore();
  const app = createProductApp({
    db,
    // Here the process stays up, so the run simply goes on after the 202.
    startManualBackup: (trigger) => startBackup({ db }, trigger),
  });
  const server = await listen(app, { port, host });
  process.stderr.write(`Serving the backup API on ${server.url} (Ctrl-C stops)\n`);
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
      port: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      limit: { type: "string" },
      verbose: { type: "boolean", short: "v", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    out(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest[0]}`);
  setLogSink(cliLogSink(process.stderr, values.verbose));
  try {
    return await dispatch(command, values);
  } finally {
    await closeDefaultApp();
  }
}

function parseLimit(command: string, value: string | undefined): number {
  if (value === undefined) return DEFAULT_LIMIT;
  if (command !== "errors" && command !== "history") {
    throw new UsageError("--limit applies to errors and history only");
  }
  const parsed = limitSchema.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(
      `--limit ${parsed.error.issues[0]?.message ?? "is invalid"}, got ${value}`,
    );
  }
  return parsed.data;
}

async function dispatch(
  command: string,
  values: { json: boolean; port?: string; host: string; limit?: string },
): Promise<number> {
  const limit = parseLimit(command, values.limit);
  switch (command) {
    case "run":
      return commandRun(values.json);
    case "status":
      return commandStatus(values.json);
    case "serve": {
      const port = Number(values.port ?? "8787");
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new UsageError(`--port must be a port number, got ${values.port}`);
      }
      return commandServe(port, values.host);
    }
    case "metadata":
      return commandMetadata(values.json);
    case "errors":
      return commandErrors(values.json, limit);
    case "history":
      return commandHistory(values.json, limit);
    case "check":
      return commandCheck(values.json);
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const parseError = (error as { code?: unknown }).code;
      if (typeof parseError === "string" && parseError.startsWith("ERR_PARSE_ARGS")) {
        process.stderr.write(`officernd-backup: ${(error as Error).message}\n${USAGE}\n`);
        process.exitCode = 2;
        return;
      }
      if (error instanceof ConfigError || error instanceof UsageError) {
        process.stderr.write(`officernd-backup: ${error.message}\n`);
        if (error instanceof UsageError) process.stderr.write(`${USAGE}\n`);
        process.exitCode = 2;
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`officernd-backup: ${message}\n`);
      process.exitCode = 1;
    },
  );
}
