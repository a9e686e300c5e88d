import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import { seedData, startSandbox, type Sandbox } from "../dev/sandbox";
import { DEFAULTS } from "../src/config";
import { splittable } from "../src/backup/listing-ranges";
import { MIN_RANGE_RECORDS } from "../src/backup/split-plan";
import { RESOURCES, type ResourceName } from "../src/officernd/resources";
import { cliEntry, runUntilDone, type CliSession } from "./cli-process";
import { cliV8Flags, describeFlags } from "./v8-flags";
import {
  chainFloorMs,
  count,
  envInt,
  mib,
  minimumReads,
  pagesFor,
  rateFloorMs,
  RSS_TARGET_BYTES,
  ratio,
  seconds,
  splitRecords,
  table,
  totalRecords,
  type Sizes,
} from "./measure";

/**
 * A first run as a user runs it: `officernd-backup run --json` in a process of its own (again
 * while it exits 75), the real Firestore emulator (empty project: every record differs), the
 * local OfficeRnD sandbox over HTTP with a latency per request and its rate-limit windows.
 * `first-run`: the issue's organization (10,000 members, 5,000 opportunities, 2,000 companies) at
 * 250 ms. `large`: BENCH_RECORDS records (default 30,000; the issue's case is 100,000) split
 * 10:5:2 at BENCH_LATENCY_MS (default 150). Both: the server's 400 reads a minute and 20,000 a
 * day (BENCH_READS_PER_MINUTE, BENCH_READS_PER_DAY); BENCH_BUDGET_SECONDS sets the CLI's
 * BACKUP_TIME_BUDGET_SECONDS; BENCH_CLIENT_READS_PER_MINUTE sets OFFICERND_READS_PER_MINUTE
 * (unset: the product's default, as a user has it). Prints, asserts nothing.
 */

interface Case {
  title: string;
  sizes: Sizes;
  latencyMs: number;
  readsPerMinute: number;
  readsPerDay: number;
  budgetSeconds: number | null;
  /** BACKUP_LISTING_RANGES for the CLI (BENCH_LISTING_RANGES; default the product's). */
  listingRanges: number;
}

function caseFromEnv(title: string, sizes: Sizes, latencyMs: number): Case {
  const budget = envInt("BENCH_BUDGET_SECONDS", 0);
  return {
    title,
    sizes,
    latencyMs,
    readsPerMinute: envInt("BENCH_READS_PER_MINUTE", 400),
    readsPerDay: envInt("BENCH_READS_PER_DAY", 20_000),
    budgetSeconds: budget > 0 ? budget : null,
    listingRanges: envInt("BENCH_LISTING_RANGES", DEFAULTS.BACKUP_LISTING_RANGES),
  };
}

function cliEnv(sandbox: Sandbox, projectId: string, c: Case): NodeJS.ProcessEnv {
  const clientRate = envInt("BENCH_CLIENT_READS_PER_MINUTE", 0);
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    FIRESTORE_EMULATOR_HOST: process.env.FIRESTORE_EMULATOR_HOST,
    METADATA_SERVER_DETECTION: "none",
    GCLOUD_PROJECT: projectId,
    ...sandbox.env(),
    BACKUP_RESOURCES: Object.keys(c.sizes).join(","),
    ...(clientRate > 0 ? { OFFICERND_READS_PER_MINUTE: String(clientRate) } : {}),
    ...(c.listingRanges !== DEFAULTS.BACKUP_LISTING_RANGES
      ? { BACKUP_LISTING_RANGES: String(c.listingRanges) }
      : {}),
    ...(c.budgetSeconds ? { BACKUP_TIME_BUDGET_SECONDS: String(c.budgetSeconds) } : {}),
  };
}

async function documentsIn(db: Firestore, names: readonly ResourceName[]): Promise<number> {
  const counts = await Promise.all(
    names.map(async (n) => (await db.collection(RESOURCES[n].collection).count().get()).data()),
  );
  return counts.reduce((sum, c) => sum + c.count, 0);
}

/**
 * BENCH_VERBOSE: OfficeRnD list reads started per 5 s from the session's start, by resource
 * (shows where a run waits: the minute's budget spent, a chain alone at the end).
 */
function readsOverTime(sandbox: Sandbox, t0: number): string {
  const buckets = new Map<number, Map<string, number>>();
  for (const l of sandbox.stats.log) {
    if (l.route !== "list" || l.resource === null) continue;
    const bucket = Math.floor((l.at - t0) / 5_000);
    const row = buckets.get(bucket) ?? new Map<string, number>();
    row.set(l.resource, (row.get(l.resource) ?? 0) + 1);
    buckets.set(bucket, row);
  }
  return [...buckets.keys()]
    .sort((a, b) => a - b)
    .map((b) => {
      const row = [...(buckets.get(b) ?? [])].map(([r, n]) => `${r} ${n}`).join(", ");
      return `+${b * 5}–${b * 5 + 5} s: ${row}`;
    })
    .join("\n");
}

/** When, from the session's start, the last API read ended and the first write phase began. */
function timeline(session: CliSession, sandbox: Sandbox, t0: number) {
  const reads = sandbox.stats.log.filter((l) => l.path.startsWith("/api/"));
  const lastReadEnd = reads.length > 0 ? Math.max(...reads.map((l) => l.end)) - t0 : null;
  let firstWrite: number | null = null;
  for (const run of session.runs) {
    const e = run.events.find((ev) => ev.phase !== undefined && /sync|writ/.test(ev.phase));
    if (e) {
      firstWrite = run.startedAt - t0 + e.ms;
      break;
    }
  }
  // RSS of the process that made the last read, when it made it.
  let rssAtReadsEnd: number | null = null;
  if (lastReadEnd !== null) {
    const run = [...session.runs].reverse().find((r) => r.startedAt - t0 <= lastReadEnd);
    rssAtReadsEnd = run ? run.proc.rssAt(lastReadEnd - (run.startedAt - t0)) : null;
  }
  const first = session.runs[0]?.events.find((e) => e.event === "backup_started");
  return { lastReadEnd, firstWrite, rssAtReadsEnd, started: first ? first.ms : null };
}

async function runCase(c: Case): Promise<void> {
  const names = Object.keys(c.sizes) as ResourceName[];
  const records = totalRecords(c.sizes);
  const seedStarted = Date.now();
  const data = seedData({ ...c.sizes, locations: 0, events: 0, bookings: 0, seed: 7 });
  const seedMs = Date.now() - seedStarted;
  const sandbox = await startSandbox({
    data: Object.fromEntries(names.map((n) => [n, data[n]])),
    latencyMs: c.latencyMs,
    readsPerMinute: c.readsPerMinute,
    readsPerDay: c.readsPerDay,
    logLimit: 200_000,
  });
  const projectId = `demo-bench-${randomBytes(4).toString("hex")}`;
  const app = initializeApp({ projectId }, projectId);
  const db = getFirestore(app);
  try {
    const loadBefore = loadavg()[0]?.toFixed(1) ?? "?";
    const t0 = Date.now();
    const session = await runUntilDone(cliEnv(sandbox, projectId, c));
    const documents = await documentsIn(db, names);
    const last = session.runs[session.runs.length - 1];
    const minimum = minimumReads(c.sizes);
    const chain = chainFloorMs(c.sizes, c.latencyMs);
    const rate = rateFloorMs(minimum.total - minimum.token, c.readsPerMinute);
    const floor = Math.max(chain, rate);
    // With split listings (src/backup/split-listing.ts): the longest chain once the big types are
    // cut into ranges, and what 4 requests in flight allow (officernd/client.ts maxConcurrent).
    const splitChain = splitChainFloorMs(c.sizes, c.latencyMs, c.listingRanges);
    const inFlight = Math.ceil(((minimum.total - minimum.token) * c.latencyMs) / MAX_IN_FLIGHT);
    const splitFloor = Math.max(splitChain, inFlight, rate);
    const longest = names.reduce((a, b) => ((c.sizes[a] ?? 0) >= (c.sizes[b] ?? 0) ? a : b));
    const sum = (pick: (j: NonNullable<(typeof session.runs)[number]["json"]>) => number) =>
      session.runs.reduce((s, r) => s + (r.json ? pick(r.json) : 0), 0);
    // A continuing run's `written` counts its whole logical run so far (its progress is restored
    // from the checkpoint, src/backup/full-run.ts): per run id, the last attempt's figure.
    const writtenByRun = new Map<string, number>();
    for (const r of session.runs) if (r.json) writtenByRun.set(r.json.runId, r.json.written ?? 0);
    const written = [...writtenByRun.values()].reduce((a, b) => a + b, 0);
    const engineReads = sum((j) => (j.api ? j.api.requests + j.api.tokenRequests : 0));
    const engine429 = sum((j) => j.api?.throttled ?? 0);
    const sandboxReads = sandbox.stats.reads + sandbox.stats.tokenRequests;
    const peakRss = Math.max(...session.runs.map((r) => r.usage?.maxRssBytes ?? r.proc.hwm));
    const peakHeap = Math.max(...session.runs.map((r) => r.usage?.peakHeapBytes ?? 0));
    const hwm = Math.max(...session.runs.map((r) => r.proc.hwm));
    const when = timeline(session, sandbox, t0);
    const loadAfter = loadavg()[0]?.toFixed(1) ?? "?";
    const heapLimit = Math.max(...session.runs.map((r) => r.usage?.heapLimitBytes ?? 0));
    const at = (ms: number | null) => (ms === null ? "n/a" : `+${seconds(ms)}`);

    console.log(
      `\n${c.title}: ${names.map((n) => `${count(c.sizes[n] ?? 0)} ${n}`).join(", ")} ` +
        `(${count(records)} records, generated in ${seconds(seedMs)}); sandbox ${c.latencyMs} ms ` +
        `a request, ${c.readsPerMinute} reads/min and ${count(c.readsPerDay)}/day (fixed ` +
        `windows); Firestore emulator, empty project ${projectId}: every record differs. ` +
        `CLI: ${cliEntry()} with ${describeFlags(cliV8Flags())} (V8 heap limit ` +
        `${mib(heapLimit)}), budget ` +
        `${c.budgetSeconds ? `${c.budgetSeconds} s` : "none"}. Load average ` +
        `${loadBefore} on ${cpus().length} CPUs before, ${loadAfter} after.\n`,
    );
    const rows = [
      ["", "measured", "target / formula"],
      [
        "outcome",
        `${last?.json?.status ?? "no JSON"} (exit ${session.runs.map((r) => String(r.code)).join(", ")})` +
          (last?.json?.error ? ` ${last.json.error.code}` : ""),
        "completed",
      ],
      ["continuations", String(session.continuations), "exit 75 → run again"],
      ["wall time", seconds(session.wallMs), "first process start → last exit"],
      [
        "  of which the runs",
        seconds(sum((j) => j.durationMs ?? 0)),
        `Σ durationMs; process start to backup_started: ${at(when.started)}`,
      ],
      [
        "chain floor",
        seconds(chain),
        `ceil(${count(c.sizes[longest] ?? 0)} ${longest}/50) = ${pagesFor(c.sizes[longest] ?? 0)} pages × ${c.latencyMs} ms`,
      ],
      [
        "rate floor",
        seconds(rate),
        `(ceil(${minimum.total - 1} reads / ${c.readsPerMinute}) − 1) × 60 s`,
      ],
      ["wall ÷ floor", ratio(session.wallMs, floor), "floor = max(chain, rate); issue: ≤ 1.15×"],
      [
        "split floor",
        seconds(splitFloor),
        `max(longest range or chain ${seconds(splitChain)} (BACKUP_LISTING_RANGES ${c.listingRanges}), ` +
          `reads × latency / ${MAX_IN_FLIGHT} in flight ${seconds(inFlight)}, rate)`,
      ],
      [
        "wall ÷ split floor",
        ratio(session.wallMs, splitFloor),
        "split listings: wall ÷ chain floor below 1.0×",
      ],
      [
        "OfficeRnD reads ÷ minimum",
        `${count(sandboxReads)} / ${count(minimum.total)} = ${ratio(sandboxReads, minimum.total)}`,
        `${count(minimum.pages)} pages + ${minimum.counts} counts + 1 token (sandbox-counted)`,
      ],
      ["  as the CLI counted them", count(engineReads), "Σ api.requests + api.tokenRequests"],
      ["429s seen", `${sandbox.stats.throttled} (CLI: ${engine429})`, "0"],
      [
        "Firestore writes ÷ differing",
        `${count(written)} / ${count(records)} = ${ratio(written, records)}`,
        `record writes (written, per run id) ÷ records; ${count(documents)} documents after`,
      ],
      [
        "peak RSS (child)",
        `${mib(peakRss)}: ${peakRss < RSS_TARGET_BYTES ? "under" : "OVER"} the 256 MiB target`,
        `maxRSS at exit; /proc VmHWM ${mib(hwm)}; issue: < 256 MiB`,
      ],
      ["peak heap (child)", mib(peakHeap), "heapUsed sampled every 20 ms"],
      ["last OfficeRnD read ended", at(when.lastReadEnd), ""],
      ["first write phase event", at(when.firstWrite), "streaming: well before reads end"],
      ["RSS when reads ended", when.rssAtReadsEnd === null ? "n/a" : mib(when.rssAtReadsEnd), ""],
    ];
    console.log(table(rows));
    if (process.env.BENCH_VERBOSE) {
      for (const run of session.runs) {
        const shown = run.events.map(
          (e) =>
            `${e.phase ?? e.event}${e.resource ? ` ${e.resource}` : ""} +${seconds(run.startedAt - t0 + e.ms)}`,
        );
        console.log(`process ${session.runs.indexOf(run) + 1}: ${shown.join("; ")}`);
      }
      console.log(`List reads started:\n${readsOverTime(sandbox, t0)}`);
    }
    if (!last?.json)
      console.log(`\nNo JSON from the CLI; its stderr:\n${last?.stderrTail.join("\n")}`);
    else if (last.code !== (last.json.status === "completed" ? 0 : last.code))
      console.log(
        `\nExit ${String(last.code)} after a completed run; stderr:\n${last.stderrTail.join("\n")}`,
      );
    console.log(
      `\nBENCH_RESULT ${JSON.stringify({
        case: c.title,
        date: new Date().toISOString().slice(0, 10),
        records,
        latencyMs: c.latencyMs,
        status: last?.json?.status ?? null,
        continuations: session.continuations,
        wallS: session.wallMs / 1000,
        runsS: sum((j) => j.durationMs ?? 0) / 1000,
        floorS: floor / 1000,
        listingRanges: c.listingRanges,
        splitFloorS: splitFloor / 1000,
        reads: sandboxReads,
        minimumReads: minimum.total,
        throttled: sandbox.stats.throttled,
        written,
        documents,
        peakRssMiB: Math.round(peakRss / 1048576),
        peakHeapMiB: Math.round(peakHeap / 1048576),
        v8Flags: cliV8Flags().join(" "),
        lastReadEndS: when.lastReadEnd === null ? null : when.lastReadEnd / 1000,
        firstWriteS: when.firstWrite === null ? null : when.firstWrite / 1000,
      })}`,
    );
  } finally {
    await sandbox.close();
    await deleteApp(app);
  }
}

/** Requests the OfficeRnD client keeps in flight (src/officernd/client.ts maxConcurrent). */
const MAX_IN_FLIGHT = 4;

/**
 * The longest chain once each splittable type (src/backup/listing-ranges.ts) is cut into as many
 * ranges as src/backup/split-plan.ts would (at most `ranges`, each at least MIN_RANGE_RECORDS).
 */
function splitChainFloorMs(sizes: Sizes, latencyMs: number, ranges: number): number {
  const pages = (Object.entries(sizes) as [ResourceName, number][]).map(([name, n]) => {
    const k = splittable(name)
      ? Math.max(1, Math.min(ranges, Math.floor(n / MIN_RANGE_RECORDS)))
      : 1;
    return pagesFor(Math.ceil(n / k));
  });
  return Math.max(...pages) * latencyMs;
}

/** The issue's first run: 10,000 members, 5,000 opportunities, 2,000 companies at 250 ms. */
export function benchFirstRun(): Promise<void> {
  return runCase(
    caseFromEnv(
      "First run",
      { members: 10_000, opportunities: 5_000, companies: 2_000 },
      envInt("BENCH_FIRST_LATENCY_MS", 250),
    ),
  );
}

/** BENCH_RECORDS records (default 30,000; the issue's: 100,000) at BENCH_LATENCY_MS (150). */
export function benchLarge(): Promise<void> {
  const records = envInt("BENCH_RECORDS", 30_000);
  return runCase(
    caseFromEnv(`Large first run`, splitRecords(records), envInt("BENCH_LATENCY_MS", 150)),
  );
}
