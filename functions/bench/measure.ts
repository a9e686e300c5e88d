import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { RESOURCES, type ResourceName } from "../src/officernd/resources";

/**
 * What every benchmark shares: the dataset sizes, the minimum reads and the floors a run
 * is measured against, the memory probes (in process and of a child process), formatting.
 */

/**
 * 10,000 members, 5,000 opportunities, 2,000 companies (issues 3, 4 and 5); the next types at an
 * organization of that size: 5 locations, 300 events, 20,000 bookings (several per member).
 */
export const BENCH_SIZES: Record<ResourceName, number> = {
  members: 10_000,
  opportunities: 5_000,
  companies: 2_000,
  locations: 5,
  events: 300,
  bookings: 20_000,
};

export interface Sample {
  rss: number;
  heap: number;
}

/** Samples RSS and heap every 20 ms and keeps the peaks. */
export class MemoryWatch {
  private timer: NodeJS.Timeout | null = null;
  peak: Sample = { rss: 0, heap: 0 };
  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), 20);
    return this;
  }
  sample(): void {
    const { rss, heapUsed } = process.memoryUsage();
    this.peak = { rss: Math.max(this.peak.rss, rss), heap: Math.max(this.peak.heap, heapUsed) };
  }
  stop(): Sample {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

/**
 * Heap still in use after a full GC: what a run really holds, unlike peaks, which depend on when
 * the collector ran. `gc` is exposed at runtime so `npm run bench` needs no node flags.
 */
export function liveHeap(): number {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  return process.memoryUsage().heapUsed;
}

/** Rows as aligned columns: the first left-aligned, the others right-aligned (figures). */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join("  "),
    )
    .join("\n");
}

// ---- Sizes, minimum reads, floors ---------------------------------------------------------------

/** The memory target: a first run of 100,000 records under 256 MiB of peak RSS. */
export const RSS_TARGET_BYTES = 256 * 1024 * 1024;

/** OfficeRnD's largest page (`$limit` at most 50, docs/officernd-api.md). */
export const PAGE_SIZE = 50;

export type Sizes = Partial<Record<ResourceName, number>>;

/** A whole number from the environment, or the fallback. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw.replace(/[_,]/g, ""));
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number ≥ 0`);
  return value;
}

/** A comma-separated list of whole numbers from the environment, or the fallback. */
export function envInts(name: string, fallback: readonly number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return [...fallback];
  return raw.split(/[\s,]+/).map((part) => {
    const value = Number(part.replace(/_/g, ""));
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${name}: ${part} is not a size`);
    return value;
  });
}

/** `total` records as the organization has them: members, opportunities, companies 10:5:2 */
export function splitRecords(total: number): Sizes {
  const members = Math.round((total * 10) / 17);
  const opportunities = Math.round((total * 5) / 17);
  return { members, opportunities, companies: total - members - opportunities };
}

export function totalRecords(sizes: Sizes): number {
  return Object.values(sizes).reduce((sum, n) => sum + (n ?? 0), 0);
}

/** Pages one listing of n records takes: an empty listing still costs its one page. */
export function pagesFor(n: number): number {
  return Math.max(1, Math.ceil(n / PAGE_SIZE));
}

export interface MinimumReads {
  pages: number;
  /** One `/count` per resource that has one (the completeness check). */
  counts: number;
  token: 1;
  total: number;
}

/** The fewest OfficeRnD requests one run can make: Σ ceil(n/50) pages + counts + one token. */
export function minimumReads(sizes: Sizes): MinimumReads {
  const entries = Object.entries(sizes) as [ResourceName, number][];
  const pages = entries.reduce((sum, [, n]) => sum + pagesFor(n), 0);
  const counts = entries.filter(([name]) => RESOURCES[name].count).length;
  return { pages, counts, token: 1, total: pages + counts + 1 };
}

/** The longest cursor chain (a page needs the previous cursor): ceil(max n/50) × latency. */
export function chainFloorMs(sizes: Sizes, latencyMs: number): number {
  return Math.max(...Object.values(sizes).map((n) => pagesFor(n ?? 0))) * latencyMs;
}

/**
 * The read budget's floor for `reads` API requests under fixed one-minute windows of
 * `perMinute` reads (the sandbox's model, dev/sandbox/rate-windows.ts): the last window cannot
 * open before (ceil(reads/perMinute) − 1) minutes. Under a sliding window it would be
 * reads/perMinute minutes instead; this is the lower of the two.
 */
export function rateFloorMs(reads: number, perMinute: number): number {
  return Math.max(0, Math.ceil(reads / perMinute) - 1) * 60_000;
}

// ---- A child process's memory -----------------------------------------------------------------

/** VmRSS and VmHWM (peak RSS) of a live process from /proc (Linux), in bytes; null elsewhere. */
export function procMemory(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
    const rss = kib("VmRSS");
    const hwm = kib("VmHWM");
    return Number.isFinite(rss) && Number.isFinite(hwm)
      ? { rss: rss * 1024, hwm: hwm * 1024 }
      : null;
  } catch {
    return null;
  }
}

/** Samples a child's RSS from /proc every `everyMs`: the series (ms, bytes) and the last VmHWM. */
export class ProcWatch {
  private timer: NodeJS.Timeout | null = null;
  readonly series: { ms: number; rss: number }[] = [];
  hwm = 0;
  constructor(
    private readonly pid: number,
    private readonly t0: number = Date.now(),
  ) {}
  start(everyMs = 100): this {
    this.timer = setInterval(() => {
      const memory = procMemory(this.pid);
      if (memory === null) return;
      this.hwm = Math.max(this.hwm, memory.hwm);
      this.series.push({ ms: Date.now() - this.t0, rss: memory.rss });
    }, everyMs);
    return this;
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
  /** The last RSS sampled at or before `ms`. */
  rssAt(ms: number): number | null {
    let found: number | null = null;
    for (const s of this.series) if (s.ms <= ms) found = s.rss;
    return found;
  }
}

// ---- Formatting -------------------------------------------------------------------------------

export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
export const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : "n/a");
export const count = (n: number) => n.toLocaleString("en-US");

/** The last non-empty line of a process's output as JSON, or undefined when it is not JSON. */
export function lastJsonLine(text: string): unknown {
  const line = text.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}
