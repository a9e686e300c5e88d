import { randomBytes } from "node:crypto";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { getFirestore, Timestamp, type Firestore } from "firebase-admin/firestore";
import { startFirestoreEmulator } from "../dev/emulator";
import { startSandbox, type Sandbox } from "../dev/sandbox";
import { recordDocument, recordRef, syncInfo } from "../src/mirror/record-document";
import { runBackup, type BackupRunResult } from "../src/backup/run";
import { loadBackupConfig, loadOfficeRndConfig } from "../src/config";
import { onLogEntry, setLogSink, type LogEntry } from "../src/logs";
import { createOfficeRndClient } from "../src/officernd/client";
import { RESOURCE_NAMES, RESOURCES, type ResourceName } from "../src/officernd/resources";
import { BENCH_SIZES, MemoryWatch, minimumReads, pagesFor, table, type Sample } from "./measure";

/**
 * Backup engine benchmark: the real engine, the real OfficeRnD client over HTTP against the local
 * sandbox, the real Firestore emulator. 10,000 members, 5,000 opportunities and 2,000 companies;
 * Firestore seeded from the same data, then k documents drifted (a third missing, a third changed
 * in OfficeRnD, a third orphaned). Two runs: the drifted one, then one on data already in sync.
 * Prints, does not assert:
 *   Firestore record writes vs the minimum (= documents that differ), counted by the engine and
 *     independently in Firestore (documents whose `_sync.syncedAt` is the run's);
 *   API requests vs the minimum (one per page of 50 per resource, one /count per type that has
 *     one, one token), counted by the client and by the sandbox, and requests per resource (one
 *     API pass per run);
 *   wall time, and peak RSS / heap over the baseline while the run lasts.
 */

const SIZES = BENCH_SIZES;
/** Same read budget on both sides, as in the client benchmark (production: 400/min). */
const READS_PER_MINUTE = 3_000;
const LATENCY_MS = 5;
const DRIFT = Math.max(3, Number(process.env.BENCH_DRIFT ?? 30));

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Writes the sandbox's records as a previous backup would have left them. */
async function seedFirestore(db: Firestore, sandbox: Sandbox): Promise<number> {
  const writer = db.bulkWriter({ throttling: false });
  const at = new Date("2026-11-01T00:00:00Z");
  let n = 0;
  for (const resource of RESOURCE_NAMES) {
    const schema = RESOURCES[resource].schema;
    for (const raw of sandbox.data[resource].all()) {
      void writer.set(
        recordRef(db, resource, raw._id),
        recordDocument(schema.parse(raw), syncInfo("backup", at)),
      );
      n += 1;
    }
  }
  await writer.close();
  return n;
}

/**
 * k drifted documents, spread over the resources: missing, changed, orphaned in turn. Types
 * with fewer than 100 records (the 5 locations) are left alone: a record or two removed there
 * is more than the removal guard lets a run remove (BACKUP_SHRINK_GUARD, a fifth).
 */
async function drift(db: Firestore, sandbox: Sandbox, k: number): Promise<Record<string, number>> {
  const counts = { missing: 0, changed: 0, orphaned: 0 };
  const targets = RESOURCE_NAMES.filter((r) => sandbox.data[r].size >= 100);
  const batch = db.batch();
  for (let i = 0; i < k; i += 1) {
    const resource = targets[i % targets.length] as ResourceName;
    const ids = sandbox.data[resource].ids();
    // Spread over the listing (pages near the start, middle and end).
    const id = ids[Math.floor(((i + 1) * ids.length) / (k + 2))] as string;
    const kind =
      (["missing", "changed", "orphaned"] as const)[Math.floor((i * 3) / k)] ?? "orphaned";
    if (kind === "missing") batch.delete(recordRef(db, resource, id));
    else if (kind === "changed") sandbox.data[resource].update(id, { name: `Changed ${i} ✎` });
    else sandbox.data[resource].remove(id);
    counts[kind] += 1;
  }
  await batch.commit();
  return counts;
}

interface Measured {
  result: BackupRunResult;
  wallMs: number;
  peak: Sample;
  baseline: Sample;
  /** Documents whose `_sync.syncedAt` is this run's (counted by Firestore). */
  firestoreWrites: number;
  sandboxReads: number;
  sandboxTokens: number;
  pagesByResource: Record<string, number>;
}

async function measuredRun(db: Firestore, sandbox: Sandbox): Promise<Measured> {
  const officeRnd = loadOfficeRndConfig(
    sandbox.env({ OFFICERND_READS_PER_MINUTE: String(READS_PER_MINUTE) }),
  );
  const reader = createOfficeRndClient(officeRnd);
  const readsBefore = sandbox.stats.reads;
  const tokensBefore = sandbox.stats.tokenRequests;
  const byResourceBefore = { ...sandbox.stats.byResource };
  // Whole milliseconds, so syncedAt of this run compares >= start.
  const start = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
  while (Date.now() < start.getTime()) await new Promise((r) => setTimeout(r, 20));
  const { rss, heapUsed } = process.memoryUsage();
  const watch = new MemoryWatch().start();
  const t0 = Date.now();
  const phases: string[] = [];
  const stop = onLogEntry((e: LogEntry) => {
    if (e.event === "backup_progress" && (e.phase === "read" || e.phase === "sync")) {
      const where = typeof e.resource === "string" ? ` ${e.resource}` : "";
      phases.push(`${String(e.phase)}${where} +${Date.now() - t0} ms`);
    }
  });
  const result = await runBackup({ db, reader, config: loadBackupConfig({}) }, { trigger: "cli" });
  const wallMs = Date.now() - t0;
  const peak = watch.stop();
  stop();
  if (process.env.BENCH_VERBOSE) console.log(phases.join("; "));
  reader.close();
  let firestoreWrites = 0;
  for (const resource of RESOURCE_NAMES) {
    const agg = await db
      .collection(RESOURCES[resource].collection)
      .where("_sync.syncedAt", ">=", Timestamp.fromDate(start))
      .count()
      .get();
    firestoreWrites += agg.data().count;
  }
  const pagesByResource = Object.fromEntries(
    RESOURCE_NAMES.map((r) => [r, sandbox.stats.byResource[r] - byResourceBefore[r]]),
  );
  return {
    result,
    wallMs,
    peak,
    baseline: { rss, heap: heapUsed },
    firestoreWrites,
    sandboxReads: sandbox.stats.reads - readsBefore,
    sandboxTokens: sandbox.stats.tokenRequests - tokensBefore,
    pagesByResource,
  };
}

export async function benchBackup(): Promise<void> {
  setLogSink(() => undefined);
  process.env.METADATA_SERVER_DETECTION ??= "none";
  const emulator = await startFirestoreEmulator();
  process.env.FIRESTORE_EMULATOR_HOST = emulator.host;
  const projectId = `demo-bench-${randomBytes(4).toString("hex")}`;
  const app = initializeApp({ projectId }, projectId);
  const db = getFirestore(app);
  const sandbox = await startSandbox({
    seed: { ...SIZES, seed: 7 },
    readsPerMinute: READS_PER_MINUTE,
    latencyMs: LATENCY_MS,
    tokenRequestsPerMinute: null,
    logLimit: 1_000,
  });
  try {
    const seedStarted = Date.now();
    const seeded = await seedFirestore(db, sandbox);
    const seedMs = Date.now() - seedStarted;
    const drifted = await drift(db, sandbox, DRIFT);

    // Pages of 50 and the /count of each type that has one (the token is added below).
    const sizes = () => Object.fromEntries(RESOURCE_NAMES.map((r) => [r, sandbox.data[r].size]));
    const minimumRequests = () => minimumReads(sizes()).total - 1;
    const minDrifted = minimumRequests();
    const first = await measuredRun(db, sandbox);
    const minInSync = minimumRequests();
    const second = await measuredRun(db, sandbox);

    const column = (m: Measured, minWrites: number, minRequests: number) => {
      const r = m.result;
      const floorMs = (minRequests / READS_PER_MINUTE) * 60_000;
      return [
        r.status + (r.error ? ` (${r.error.code})` : ""),
        `${RESOURCE_NAMES.reduce((s, n) => s + r.resources[n].missing, 0)}` +
          ` / ${RESOURCE_NAMES.reduce((s, n) => s + r.resources[n].changed, 0)}` +
          ` / ${RESOURCE_NAMES.reduce((s, n) => s + r.resources[n].orphaned, 0)}`,
        `${r.written} (Firestore: ${m.firestoreWrites})`,
        String(minWrites),
        `${r.api.requests} + ${r.api.tokenRequests} (sandbox: ${m.sandboxReads} + ${m.sandboxTokens})`,
        `${minRequests} + 1`,
        RESOURCE_NAMES.map((n) => m.pagesByResource[n]).join(" / "),
        RESOURCE_NAMES.map(
          (n) => pagesFor(sandbox.data[n].size) + (RESOURCES[n].count ? 1 : 0),
        ).join(" / "),
        secs(m.wallMs),
        secs(floorMs),
        mb(m.peak.rss),
        mb(m.peak.rss - m.baseline.rss),
        mb(m.peak.heap - m.baseline.heap),
      ];
    };
    const labels = [
      "status",
      "missing / changed / orphaned",
      "Firestore record writes",
      "minimum writes (documents that differ)",
      "API requests + token",
      "minimum (pages + counts + token)",
      `requests ${RESOURCE_NAMES.join(" / ")}`,
      "requests needed (pages + count)",
      "wall time",
      "rate-limit floor (read budget)",
      "peak RSS",
      "peak RSS over baseline",
      "peak heap over baseline",
    ];
    const a = column(first, DRIFT, minDrifted);
    const b = column(second, 0, minInSync);
    const rows = [
      ["", `drifted (k=${DRIFT})`, "in sync (next run)"],
      ...labels.map((label, i) => [label, a[i] ?? "", b[i] ?? ""]),
    ];
    console.log(
      `\nBackup engine: ${SIZES.members} members, ${SIZES.opportunities} opportunities, ` +
        `${SIZES.companies} companies; Firestore emulator seeded with ${seeded} documents in ` +
        `${secs(seedMs)} (BulkWriter), then drifted: ${drifted.missing} missing, ` +
        `${drifted.changed} changed, ${drifted.orphaned} orphaned. Read budget ` +
        `${READS_PER_MINUTE}/min on both sides, ${LATENCY_MS} ms latency per request. ` +
        `Production's default budget (400/min) puts the floor at ` +
        `${secs((minDrifted / 400) * 60_000)}.\n`,
    );
    console.log(table(rows));
    console.log(
      `\nMemory as the organization grows (the run streams both sides): ` +
        `\`npm run bench -- memory\` (docs/scaling.md).`,
    );
    console.log(
      `\nTargets: writes = minimum; requests = minimum; one API pass per run (pages = needed).\n`,
    );
  } finally {
    await sandbox.close();
    await deleteApp(app);
    await emulator.stop();
    setLogSink(null);
  }
}

if (require.main === module) {
  benchBackup().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  });
}
