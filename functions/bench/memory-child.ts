import { deleteApp, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
// What a function instance has loaded: every trigger's module (firebase-functions with them).
import "../src/index";
import { runBackup } from "../src/backup/run";
import { loadBackupConfig } from "../src/config";
import { setLogSink } from "../src/logs";
import type { ResourceName } from "../src/officernd/resources";
import { envInt, splitRecords } from "./measure";
import { createSyntheticReader } from "./synthetic-reader";

/**
 * One backup run of BENCH_MEMORY_RECORDS synthetic records (split 10:5:2) into the Firestore
 * emulator's project GCLOUD_PROJECT, in a process of its own so its peak RSS is the run's
 * (./memory-curve.ts starts it with ./child-usage.mjs preloaded and the functions' NODE_OPTIONS).
 * It loads the functions' modules first, as a function instance has them. Prints one JSON line.
 */

async function main(): Promise<void> {
  setLogSink(() => undefined);
  const sizes = splitRecords(envInt("BENCH_MEMORY_RECORDS", 10_000));
  const projectId = process.env.GCLOUD_PROJECT ?? "demo-bench-memory";
  const app = initializeApp({ projectId }, projectId);
  const reader = createSyntheticReader(sizes);
  const started = performance.now();
  const result = await runBackup(
    {
      db: getFirestore(app),
      reader,
      config: loadBackupConfig({}),
      resources: Object.keys(sizes) as ResourceName[],
    },
    { trigger: "cli" },
  );
  const line = JSON.stringify({
    status: result.status,
    error: result.error?.code ?? null,
    written: result.written,
    wallMs: Math.round(performance.now() - started),
    reads: reader.stats().requests,
  });
  await deleteApp(app);
  process.stdout.write(`${line}\n`, () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
