import type { Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import {
  beginBackup,
  recordConfigFailure,
  runBackup,
  type BackupOptions,
  type BackupRunResult,
} from "./backup/run";
import type { BackupTrigger } from "./backup/documents";
import { readBackupLock } from "./backup/lock";
import { newRunId } from "./backup/metadata";
import {
  ConfigError,
  loadBackupConfig,
  loadOfficeRndConfig,
  loadStatusConfig,
  type ConfigSource,
} from "./config";
import { logs } from "./logs";
import { runNotificationCheck } from "./notifications/run-check";
import { createOfficeRndClient, type OfficeRndClientOptions } from "./officernd/client";
import { selectResources } from "./officernd/resources";
import {
  createApp,
  createConfigErrorApp,
  type ManualBackupResult,
  type ManualBackupStarter,
} from "./http";
import type { Express } from "express";
import { loadWebhookSetup, webhookRoute } from "./http/routes/webhook";
import { dashboardRoutes } from "./http/dashboard";

/**
 * The wiring root: where configuration, Firestore, the OfficeRnD client, the engine and the HTTP
 * app are put together, for the triggers (./triggers/), the CLI and the local stack. One
 * OfficeRnD client per run (its token, read budget and counters are the run's), closed when the
 * run ends.
 */

export interface RunDeps {
  db: Firestore;
  source?: ConfigSource;
  clientOptions?: OfficeRndClientOptions;
  /**
   * The run's time budget: a deployed function's timeoutSeconds less a margin
   * (functionTimeBudgetMs). BACKUP_TIME_BUDGET_SECONDS, when set, gives one too (the CLI has none
   * otherwise); the shorter applies.
   */
  timeBudgetMs?: number;
}

/**
 * A run's time budget in seconds: the BACKUP_TIME_BUDGET_SECONDS param (config.ts), or the same
 * environment variable for the CLI; unset, empty or 0: none of its own (a function still has the
 * one its timeout gives).
 */
export const TIME_BUDGET_VARIABLE = "BACKUP_TIME_BUDGET_SECONDS";
const timeBudgetSeconds = z.coerce
  .number({ error: "must be a number of seconds" })
  .nonnegative("must be a number of seconds, 0 for none")
  .max(86_400, "must be at most 86400 seconds (a day)");

/** The run's time budget as BackupDeps takes it; throws ConfigError naming the variable. */
function timeBudget({ source = process.env, timeBudgetMs }: RunDeps): { timeBudgetMs?: number } {
  const raw = source[TIME_BUDGET_VARIABLE]?.trim();
  let fromEnv: number | undefined;
  if (raw) {
    const parsed = timeBudgetSeconds.safeParse(raw);
    if (!parsed.success) {
      throw new ConfigError(TIME_BUDGET_VARIABLE, parsed.error.issues[0]?.message ?? "is invalid");
    }
    if (parsed.data > 0) fromEnv = Math.round(parsed.data * 1000);
  }
  const budgets = [timeBudgetMs, fromEnv].filter((b) => b !== undefined);
  return budgets.length === 0 ? {} : { timeBudgetMs: Math.min(...budgets) };
}

/** Validates the configuration (throws ConfigError naming the variable) before anything runs. */
function prepare({ source = process.env, clientOptions }: RunDeps) {
  const officeRnd = loadOfficeRndConfig(source);
  const config = loadBackupConfig(source);
  const resources = selectResources(config.resourceNames);
  // The token asks only for the scopes of the types mirrored.
  const reader = createOfficeRndClient(officeRnd, { resources, ...clientOptions });
  return { config, resources, reader };
}

/** One backup run, start to end. */
export async function runBackupNow(
  deps: RunDeps,
  trigger: BackupTrigger,
  options: Omit<BackupOptions, "trigger"> = {},
): Promise<BackupRunResult> {
  const budget = timeBudget(deps);
  const { config, resources, reader } = prepare(deps);
  try {
    const result = await runBackup(
      { db: deps.db, reader, config, resources, ...budget },
      { ...options, trigger },
    );
    // An incremental run changes no alert condition (the metadata is the full backup's).
    if (result.mode === "full") await afterRecorded(deps);
    return result;
  } finally {
    reader.close();
  }
}

/**
 * A run started by a deployed function (`functionName`: the scheduled one, the callable, the task
 * queue). Unlike runBackupNow, a missing or malformed param or secret does not throw: it is
 * logged (`config_error`, naming the variable) and recorded as a failed run with the code
 * `config_error` (metadata, history, /errors), so it shows where operators look and the status
 * stops showing the last good run (an incremental run's failure goes to its own history and
 * /errors only). The CLI and the local stack keep runBackupNow: they print the error and leave the
 * records alone.
 */
export async function runBackupFromFunction(
  deps: RunDeps,
  functionName: string,
  trigger: BackupTrigger,
  run: Omit<BackupOptions, "trigger"> = {},
): Promise<BackupRunResult> {
  const mode = run.mode ?? "full";
  try {
    return await runBackupNow(deps, trigger, run);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const options = { trigger, mode, ...(run.runId ? { runId: run.runId } : {}) };
    const result = await recordConfigFailure(
      { db: deps.db },
      options,
      `configuration error: ${error.variable} ${error.detail}`,
    );
    logs.configError({
      variable: error.variable,
      detail: error.detail,
      functionName,
      runId: result.runId,
    });
    if (mode === "full") await afterRecorded(deps);
    return result;
  }
}

/**
 * Takes the lock and lets the run go on in the background (HTTP `POST /backup`: 202 or 409).
 * `completion` resolves when the run has ended (never rejects).
 */
export async function startBackup(
  deps: RunDeps,
  trigger: BackupTrigger,
): Promise<ManualBackupResult & { completion?: Promise<BackupRunResult> }> {
  const budget = timeBudget(deps);
  const { config, resources, reader } = prepare(deps);
  const start = await beginBackup(
    { db: deps.db, reader, config, resources, ...budget },
    { trigger },
  );
  if (start.busy) {
    reader.close();
    return { busy: true, heldBy: start.heldBy, expiresAt: start.expiresAt };
  }
  const completion = start.completion
    .finally(() => reader.close())
    .then(async (result) => {
      await afterRecorded(deps);
      return result;
    });
  return { busy: false, runId: start.runId, completion };
}

/** Name of the task-queue function that runs manual backups requested over HTTP in production. */
export const BACKUP_TASK_FUNCTION = "officeRndBackupTask";

/**
 * Production `POST /v1/office-rnd/backup`: Cloud Run throttles the CPU of an HTTP function once
 * it has answered, so the run cannot go on after the 202 inside the `api` function. Instead the
 * route checks the lock (409 when a run holds it), and enqueues the run, with its id, on the
 * `officeRndBackupTask` queue, whose function takes the lock itself (a run that loses that race
 * is recorded as busy).
 */
export async function enqueueManualBackup(
  db: Firestore,
  enqueue: (task: { runId: string; trigger: BackupTrigger }) => Promise<void>,
  now: Date = new Date(),
): Promise<ManualBackupResult> {
  const lock = await readBackupLock(db, now);
  if (lock) return { busy: true, heldBy: lock.runId, expiresAt: lock.expiresAt.toDate() };
  const runId = newRunId(now);
  await enqueue({ runId, trigger: "manual" });
  return { busy: false, runId };
}

/**
 * The `api` function's app: the product app, or, when its configuration is missing or malformed,
 * one that answers every route 503 `config_error` naming the variable (http/config-error.ts),
 * logged here once (`config_error`) and per request by the app.
 */
export function createApiApp(deps: Parameters<typeof createProductApp>[0]): Express {
  try {
    return createProductApp(deps);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    logs.configError({ variable: error.variable, detail: error.detail, functionName: "api" });
    return createConfigErrorApp(error);
  }
}

/**
 * The product's HTTP app with every route, as the `api` function, the CLI's `serve` and the local
 * stack serve it. Configuration from `source` (environment variables named like the params).
 * The status routes need BACKUP_STATUS_TOKEN (the app is not built without it); the webhook route
 * needs OFFICERND_WEBHOOK_SECRET, and without it (a status-only deployment) only that route is
 * off: it answers 503 `webhook_not_configured`.
 */
export function createProductApp(deps: {
  db: Firestore;
  source?: ConfigSource;
  startManualBackup?: ManualBackupStarter;
  /** The webhook's clock (signature timestamps, `_sync.syncedAt`); tests set it. */
  now?: () => Date;
  /** See WebhookRouteDeps.rejectionFlushMs. */
  webhookRejectionFlushMs?: number;
  /**
   * Serve the dashboard's files (http/dashboard.ts DASHBOARD_DIR) at `/`: the CLI's `serve` and
   * the local stack. The deployed `api` function does not: Hosting serves public/ itself.
   */
  dashboardDir?: string;
}): Express {
  const source = deps.source ?? process.env;
  const webhookSetup = loadWebhookSetup(source);
  return createApp(
    {
      db: deps.db,
      status: loadStatusConfig(source),
      ...(deps.startManualBackup ? { startManualBackup: deps.startManualBackup } : {}),
    },
    {
      routes: [
        webhookRoute({
          db: deps.db,
          setup: webhookSetup,
          ...(deps.now ? { now: deps.now } : {}),
          ...(deps.webhookRejectionFlushMs !== undefined
            ? { rejectionFlushMs: deps.webhookRejectionFlushMs }
            : {}),
        }),
        ...(deps.dashboardDir ? dashboardRoutes(deps.dashboardDir) : []),
      ],
      secrets: webhookSetup.ok ? [webhookSetup.settings.secret] : [],
    },
  );
}

/**
 * After a run is recorded: tell operators of alert transitions by Slack and email
 * (notifications/). It never throws, so a notification cannot change the run's outcome.
 */
async function afterRecorded(deps: RunDeps): Promise<void> {
  await runNotificationCheck(
    { db: deps.db, ...(deps.source ? { source: deps.source } : {}) },
    "run",
    "notifications",
  );
}

/**
 * The scheduled alert check (triggers/alert-check.ts): a run that never happens records nothing,
 * so the 48-hour condition is noticed here; it also retries failed deliveries and sends the
 * daily reminders. Never throws.
 */
export function checkAlertsNow(
  deps: Parameters<typeof runNotificationCheck>[0],
  functionName: string,
): ReturnType<typeof runNotificationCheck> {
  return runNotificationCheck(deps, "schedule", functionName);
}
