import { randomUUID } from "node:crypto";
import { Agent, request } from "node:http";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { Timestamp, getFirestore, type Firestore } from "firebase-admin/firestore";
import { clearFirestore, startFirestoreEmulator } from "../dev/emulator";
import {
  METADATA_DOC,
  RUNS_SUBCOLLECTION,
  backupMetadataSchema,
  type BackupMetadata,
} from "../src/backup/documents";
import { METADATA_COLLECTION } from "../src/mirror/collections";
import { SYNC_FIELD } from "../src/mirror/record-document";
import { newRunId } from "../src/backup/metadata";
import { createApp, listen } from "../src/http";
import { setLogSink } from "../src/logs";
import { RESOURCES, RESOURCE_NAMES } from "../src/officernd/resources";
import { BENCH_SIZES } from "./measure";

/**
 * `GET /v1/office-rnd/backup-status` on loopback against the Firestore emulator: 2,000 sequential
 * requests over one keep-alive socket, after 50 warm-up requests that are not counted, with the
 * app as deployed (record counts shared for 30 s). Target: p50 under 20 ms, no errors.
 * Then 200 requests with counts taken on every request, to show what the sharing saves.
 */

const REQUESTS = 2_000;
const LIVE_REQUESTS = 200;
const WARMUP = 50;
const TARGET_P50_MS = 20;
const RECORDS = BENCH_SIZES;
/** Share of records marked removed in OfficeRnD (excluded from the active counts). */
const REMOVED_SHARE = 0.02;
const HISTORY_RUNS = 30;

async function seed(db: Firestore, now: Date): Promise<void> {
  const synced = Timestamp.fromDate(now);
  for (const name of RESOURCE_NAMES) {
    const collection = db.collection(RESOURCES[name].collection);
    const total = RECORDS[name];
    const removed = Math.floor(total * REMOVED_SHARE);
    for (let start = 0; start < total; start += 500) {
      const batch = db.batch();
      for (let i = start; i < Math.min(total, start + 500); i++) {
        batch.set(collection.doc(`${name}-${i}`), {
          _id: `${name}-${i}`,
          name: `Record ${i}`,
          [SYNC_FIELD]: {
            syncedAt: synced,
            source: "backup",
            removedAt: i < removed ? synced : null,
          },
        });
      }
      await batch.commit();
    }
  }
  const metadata = db.collection(METADATA_COLLECTION).doc(METADATA_DOC);
  const batch = db.batch();
  let latest: BackupMetadata | null = null;
  for (let day = HISTORY_RUNS; day >= 1; day--) {
    const finishedAt = new Date(now.getTime() - day * 86_400_000);
    const startedAt = new Date(finishedAt.getTime() - 90_000);
    const failed = day % 10 === 0;
    const resources = Object.fromEntries(
      RESOURCE_NAMES.map((n) => {
        const active = RECORDS[n] - Math.floor(RECORDS[n] * REMOVED_SHARE);
        const missing = day % 7 === 0 ? 3 : 0;
        return [
          n,
          {
            firestore: active - missing,
            api: failed && n === "companies" ? null : active,
            missing,
            changed: 0,
            orphaned: 0,
            written: missing,
            rejected: 0,
          },
        ];
      }),
    );
    const run = backupMetadataSchema.parse({
      lastBackup: Timestamp.fromDate(finishedAt),
      firestoreMembers: resources.members?.firestore ?? 0,
      apiMembers: resources.members?.api ?? null,
      missingRecords: RESOURCE_NAMES.reduce((s, n) => s + (resources[n]?.missing ?? 0), 0),
      status: failed ? "failed" : "completed",
      error: failed ? "OfficeRnD companies: 5xx outlasted the retry budget" : null,
      updatedAt: Timestamp.fromDate(finishedAt),
      runId: newRunId(startedAt),
      trigger: "schedule",
      startedAt: Timestamp.fromDate(startedAt),
      finishedAt: Timestamp.fromDate(finishedAt),
      durationMs: 90_000,
      errorCode: failed ? "server" : null,
      inSync: !failed,
      resources,
      lastCompletedAt: Timestamp.fromDate(failed ? startedAt : finishedAt),
    });
    batch.set(metadata.collection(RUNS_SUBCOLLECTION).doc(run.runId), run);
    latest = run;
  }
  if (latest) batch.set(metadata, latest);
  await batch.commit();
}

function get(agent: Agent, url: URL, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { agent, headers: { Authorization: `Bearer ${token}`, Accept: "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

interface Measured {
  latencies: number[];
  errors: number;
  wallMs: number;
}

async function measure(url: URL, token: string, requests: number): Promise<Measured> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < WARMUP; i++) await get(agent, url, token);
    const latencies: number[] = [];
    let errors = 0;
    const started = performance.now();
    for (let i = 0; i < requests; i++) {
      const t0 = performance.now();
      try {
        if ((await get(agent, url, token)) !== 200) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }
    latencies.sort((a, b) => a - b);
    return { latencies, errors, wallMs: performance.now() - started };
  } finally {
    agent.destroy();
  }
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

function report(label: string, m: Measured): void {
  const l = m.latencies;
  console.log(
    `  ${label}: p50 ${ms(percentile(l, 50))}  p95 ${ms(percentile(l, 95))}  p99 ${ms(percentile(l, 99))}  max ${ms(l.at(-1) ?? Number.NaN)}  errors ${m.errors}  (${((l.length / m.wallMs) * 1000).toFixed(0)} req/s)`,
  );
}

async function serveAndMeasure(
  db: Firestore,
  token: string,
  requests: number,
  countsMaxAgeMs?: number,
): Promise<Measured> {
  const app = createApp({
    db,
    status: { statusToken: token, missingAlertThreshold: 10 },
    ...(countsMaxAgeMs === undefined ? {} : { countsMaxAgeMs }),
  });
  const server = await listen(app);
  try {
    return await measure(new URL("/v1/office-rnd/backup-status", server.url), token, requests);
  } finally {
    await server.close();
  }
}

export async function benchStatus(): Promise<void> {
  // Never probe for a GCE metadata server (firebase-admin does when it has no credentials).
  process.env.METADATA_SERVER_DETECTION ??= "none";
  const emulator = await startFirestoreEmulator({ quiet: true });
  const previousHost = process.env.FIRESTORE_EMULATOR_HOST;
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  const projectId = `demo-bench-status-${randomUUID().slice(0, 8)}`;
  const firebase = initializeApp({ projectId }, projectId);
  const db = getFirestore(firebase);
  const token = randomUUID();
  setLogSink(() => {});
  try {
    const seedStarted = performance.now();
    await seed(db, new Date());
    const seedMs = performance.now() - seedStarted;
    const records = RESOURCE_NAMES.map((n) => `${RECORDS[n]} ${n}`).join(", ");
    console.log(
      `status API: sequential GET /v1/office-rnd/backup-status on 127.0.0.1, Firestore emulator ${emulator.host}`,
    );
    console.log(
      `  data: ${records} (${REMOVED_SHARE * 100}% marked removed), ${HISTORY_RUNS} runs of history; seeded in ${ms(seedMs)}; ${WARMUP} warm-up requests not counted`,
    );
    const main = await serveAndMeasure(db, token, REQUESTS);
    report(`${REQUESTS} requests, as deployed (counts shared 30 s)`, main);
    const live = await serveAndMeasure(db, token, LIVE_REQUESTS, 0);
    report(`${LIVE_REQUESTS} requests, counts on every request`, live);
    const met = percentile(main.latencies, 50) < TARGET_P50_MS && main.errors === 0;
    console.log(`  target p50 < ${TARGET_P50_MS} ms and no errors: ${met ? "met" : "NOT met"}`);
  } finally {
    setLogSink(null);
    await clearFirestore(emulator.host, projectId).catch(() => undefined);
    await deleteApp(firebase);
    if (previousHost === undefined) delete process.env.FIRESTORE_EMULATOR_HOST;
    else process.env.FIRESTORE_EMULATOR_HOST = previousHost;
    await emulator.stop();
  }
}

if (require.main === module) {
  benchStatus().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
