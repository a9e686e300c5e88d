import { randomBytes } from "node:crypto";
import type { Firestore } from "firebase-admin/firestore";
import { formatRun } from "../src/cli";
import { closeDefaultApp, defaultFirestore } from "../src/firebase";
import { listen, type RunningServer } from "../src/http";
import { DASHBOARD_DIR } from "../src/http/dashboard";
import { cliLogSink } from "../src/cli";
import { setLogSink } from "../src/logs";
import { createProductApp, runBackupNow, startBackup } from "../src/wiring";
import type { BackupRunResult } from "../src/backup/run";
import { clearFirestore, startFirestoreEmulator, type FirestoreEmulator } from "./emulator";
import { startSandbox, type Sandbox } from "./sandbox";
import { seedFirestoreMirror, type DriftReport } from "./seed-firestore";

/**
 * `npm start`: the whole product on this machine, nothing to configure. A real Firestore emulator
 * and the local OfficeRnD sandbox; Firestore seeded with a drifted copy of OfficeRnD's data (as
 * lost webhooks leave it); one real backup run that repairs it; then the HTTP API on 127.0.0.1.
 */

export const LOCAL_PROJECT_ID = "demo-officernd-backup";

export interface LocalStack {
  emulator: FirestoreEmulator;
  sandbox: Sandbox;
  db: Firestore;
  drift: DriftReport;
  result: BackupRunResult;
  server: RunningServer;
  statusToken: string;
  curl: string;
  /** The dashboard (public/, built by `npm run build:dashboard`), signed in with statusToken. */
  dashboardUrl: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startLocalStack(
  options: { port?: number; quiet?: boolean } = {},
): Promise<LocalStack> {
  const emulator = await startFirestoreEmulator();
  const sandbox = await startSandbox();
  const stopAll = async () => {
    await sandbox.close().catch(() => undefined);
    await closeDefaultApp().catch(() => undefined);
    await emulator.stop();
  };
  try {
    const statusToken = process.env.BACKUP_STATUS_TOKEN || randomBytes(18).toString("base64url");
    const env: Record<string, string> = {
      ...sandbox.env(),
      FIRESTORE_EMULATOR_HOST: emulator.host,
      GCLOUD_PROJECT: process.env.GCLOUD_PROJECT || LOCAL_PROJECT_ID,
      BACKUP_STATUS_TOKEN: statusToken,
      // So POST /v1/office-rnd/webhook works locally too (sign deliveries with this secret).
      OFFICERND_WEBHOOK_SECRET:
        process.env.OFFICERND_WEBHOOK_SECRET || randomBytes(24).toString("base64url"),
    };
    Object.assign(process.env, env);
    // Never probe for a GCE metadata server on a laptop.
    process.env.METADATA_SERVER_DETECTION ??= "none";
    // A fresh, known starting point in the local project, even on a reused emulator.
    await clearFirestore(emulator.host, env.GCLOUD_PROJECT!);
    const db = defaultFirestore();
    const drift = await seedFirestoreMirror(db, sandbox.data.snapshot(), {
      missing: 3,
      changed: 2,
      orphaned: 1,
    });
    const result = await runBackupNow({ db }, "cli");
    const app = createProductApp({
      db,
      dashboardDir: DASHBOARD_DIR,
      startManualBackup: (trigger) => startBackup({ db }, trigger),
    });
    const server = await listen(app, { port: options.port ?? 8787 }).catch(() =>
      listen(app, { port: 0 }),
    );
    const curl = `curl -s -H "Authorization: Bearer ${statusToken}" ${server.url}/v1/office-rnd/backup-status`;
    return {
      emulator,
      sandbox,
      db,
      drift,
      result,
      server,
      statusToken,
      curl,
      dashboardUrl: `${server.url}/`,
      env,
      stop: async () => {
        await server.close().catch(() => undefined);
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function describeDrift(drift: DriftReport): string {
  return Object.entries(drift)
    .map(
      ([r, d]) =>
        `${r}: ${d.missing.length} missing, ${d.changed.length} stale, ${d.orphaned.length} orphaned`,
    )
    .join("; ");
}

async function main(): Promise<void> {
  const once = process.argv.includes("--once");
  setLogSink(cliLogSink(process.stderr));
  const say = (text = "") => process.stdout.write(`${text}\n`);
  say("Starting the local stack: Firestore emulator + OfficeRnD sandbox …");
  const stack = await startLocalStack();
  say(
    `Firestore emulator: ${stack.emulator.host}${stack.emulator.owned ? "" : " (yours, FIRESTORE_EMULATOR_HOST)"}, project ${stack.env.GCLOUD_PROJECT}`,
  );
  say(`OfficeRnD sandbox:  ${stack.sandbox.apiUrl} (org ${stack.sandbox.orgSlug})`);
  say(`Seeded Firestore with a drifted copy: ${describeDrift(stack.drift)}`);
  say();
  say(formatRun(stack.result));
  say();
  say(`Backup API on ${stack.server.url}. Check the status with:`);
  say();
  say(`  ${stack.curl}`);
  say();
  say(`Dashboard: ${stack.dashboardUrl}  (Status token: ${stack.statusToken})`);
  say();
  say("Use the CLI against this stack from another terminal:");
  say(
    `  ${Object.entries(stack.env)
      .filter(([k]) => k !== "OFFICERND_CLIENT_SECRET" && k !== "OFFICERND_WEBHOOK_SECRET")
      .map(([k, v]) => `${k}=${v}`)
      .join(
        " ",
      )} OFFICERND_CLIENT_SECRET=${stack.env.OFFICERND_CLIENT_SECRET} npm run cli -- status`,
  );
  say();
  if (once) {
    await stack.stop();
    return;
  }
  say("Ctrl-C stops everything.");
  await new Promise<void>((resolve) => {
    const stop = () => {
      say("\nStopping …");
      void stack.stop().finally(resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(
        `npm start: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
