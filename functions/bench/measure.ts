import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { ResourceName } from "../src/officernd/resources";

/** What every benchmark shares: the dataset sizes and the memory probes. */

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
