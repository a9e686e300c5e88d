import { randomBytes } from "node:crypto";
import { z } from "zod";
import { clearFirestore } from "../dev/emulator";
import { spawnTs } from "./cli-process";
import {
  count,
  envInt,
  envInts,
  lastJsonLine,
  mib,
  RSS_TARGET_BYTES,
  seconds,
  table,
} from "./measure";
import { describeFlags, functionNodeOptions } from "./v8-flags";

/**
 * The memory curve: one backup run per size with a synthetic OfficeRnD (./synthetic-reader.ts,
 * zero latency) into the real Firestore emulator, each run in a process of its own
 * (./memory-child.ts), its peak RSS and heap reported by the process itself. Per size, a first
 * run (empty project: every record is written), then, up to BENCH_MEMORY_INSYNC_MAX records, a
 * second run on the mirror it left (in sync: only reads). Flat means the peak does not grow with
 * the size. BENCH_MEMORY_SIZES (default 10000,100000) chooses the sizes; 1,000,000 needs the
 * emulator's JVM to hold them (JAVA_TOOL_OPTIONS=-Xmx6g; docs/scaling.md).
 */

const outputSchema = z.object({
  status: z.string(),
  error: z.string().nullable(),
  written: z.number(),
  wallMs: z.number(),
  reads: z.number(),
});

interface Point {
  records: number;
  mode: "first run" | "in sync";
  status: string;
  wallMs: number;
  written: number;
  reads: number;
  rss: number;
  heap: number;
  heapLimit: number;
}

const nodeOptions = functionNodeOptions();

async function measure(records: number, projectId: string, mode: Point["mode"]): Promise<Point> {
  const run = await spawnTs(
    "bench/memory-child.ts",
    [],
    {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      FIRESTORE_EMULATOR_HOST: process.env.FIRESTORE_EMULATOR_HOST,
      METADATA_SERVER_DETECTION: "none",
      GCLOUD_PROJECT: projectId,
      BENCH_MEMORY_RECORDS: String(records),
      // As a deployed function gets it (functions/.env): the heap flags the product sets.
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    },
    4 * 3_600_000,
  );
  const parsed = outputSchema.safeParse(lastJsonLine(run.stdout));
  const out = parsed.success ? parsed.data : null;
  return {
    records,
    mode,
    status: out ? out.status + (out.error ? ` (${out.error})` : "") : `exit ${String(run.code)}`,
    wallMs: out?.wallMs ?? run.wallMs,
    written: out?.written ?? 0,
    reads: out?.reads ?? 0,
    rss: run.usage?.maxRssBytes ?? run.proc.hwm,
    heap: run.usage?.peakHeapBytes ?? 0,
    heapLimit: run.usage?.heapLimitBytes ?? 0,
  };
}

export async function benchMemory(): Promise<void> {
  const host = process.env.FIRESTORE_EMULATOR_HOST;
  if (!host) throw new Error("the memory curve needs the Firestore emulator (bench/run.ts)");
  const sizes = envInts("BENCH_MEMORY_SIZES", [10_000, 100_000]);
  const inSyncMax = envInt("BENCH_MEMORY_INSYNC_MAX", 100_000);
  const points: Point[] = [];
  for (const records of sizes) {
    const projectId = `demo-bench-mem-${randomBytes(4).toString("hex")}`;
    try {
      points.push(await measure(records, projectId, "first run"));
      if (records <= inSyncMax) points.push(await measure(records, projectId, "in sync"));
    } finally {
      // The emulator keeps every document in its JVM: free them before the next size.
      await clearFirestore(host, projectId);
    }
    const p = points[points.length - 1];
    if (p) console.log(`  ${count(records)} records: ${p.mode} ${p.status}, ${mib(p.rss)}`);
  }
  console.log(
    `\nMemory curve: synthetic OfficeRnD (client's parsing and pagination, no HTTP, zero ` +
      `latency), Firestore emulator; one process per run; peak RSS = maxRSS at exit, peak heap ` +
      `sampled every 20 ms. In sync runs up to ${count(inSyncMax)} records ` +
      `(the emulator's paged query by id slows with the collection's size). Each process ` +
      `loads the functions' modules (src/index.ts) and runs with NODE_OPTIONS ` +
      `"${nodeOptions}" (${describeFlags(nodeOptions.split(" ").filter(Boolean))}: ` +
      `functions/.env, as deployed; BENCH_NODE_FLAGS replaces it), V8 heap limit ` +
      `${mib(points[0]?.heapLimit ?? 0)}; tsx is in the process too (about 30 MiB).\n`,
  );
  const rows = [
    ["records", "run", "status", "wall", "records/s", "written", "reads", "peak RSS", "peak heap"],
    ...points.map((p) => [
      count(p.records),
      p.mode,
      p.status,
      seconds(p.wallMs),
      count(Math.round(p.records / (p.wallMs / 1000))),
      count(p.written),
      count(p.reads),
      mib(p.rss),
      mib(p.heap),
    ]),
  ];
  console.log(table(rows));
  const target = points.find((p) => p.records === 100_000 && p.mode === "first run");
  if (target) {
    const verdict = target.rss < RSS_TARGET_BYTES ? "under" : "OVER";
    console.log(
      `\nFirst run of 100,000 records: peak RSS ${mib(target.rss)}, ${verdict} the issue's ` +
        `256 MiB target (${target.status}).`,
    );
  }
  console.log(
    `\nBENCH_RESULT ${JSON.stringify({
      case: "memory curve",
      date: new Date().toISOString().slice(0, 10),
      nodeOptions,
      points: points.map((p) => ({
        ...p,
        rssMiB: Math.round(p.rss / 1048576),
        heapMiB: Math.round(p.heap / 1048576),
      })),
    })}`,
  );
}
