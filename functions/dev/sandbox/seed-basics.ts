/** The building blocks of the sandbox's generated data: a seeded PRNG, ObjectId-like ids, times. */

export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A record as the sandbox stores and serves it. */
export interface SandboxRecord {
  _id: string;
  [key: string]: JsonValue;
}

/** mulberry32: tiny, fast and good enough for test data. */
export class Prng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error("pick from an empty list");
    return item;
  }
  hex(length: number): string {
    let out = "";
    while (out.length < length) {
      out += Math.floor(this.next() * 0x100000000)
        .toString(16)
        .padStart(8, "0");
    }
    return out.slice(0, length);
  }
}

export const EPOCH_START = Date.UTC(2019, 0, 1);
export const EPOCH_END = Date.UTC(2026, 9, 31);

export class IdFactory {
  private counter: number;
  constructor(private readonly rng: Prng) {
    this.counter = rng.int(0, 0xfff);
  }
  /** ObjectId-like: 4-byte time, 5 random bytes, 3-byte counter (unique within a dataset). */
  next(atMs: number): string {
    this.counter = (this.counter + 1) % 0x1000000;
    const time = Math.floor(atMs / 1000)
      .toString(16)
      .padStart(8, "0");
    return time + this.rng.hex(10) + this.counter.toString(16).padStart(6, "0");
  }
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function timestamps(rng: Prng): {
  createdMs: number;
  createdAt: string;
  modifiedAt: string;
} {
  const createdMs = rng.int(EPOCH_START, EPOCH_END - 86_400_000);
  const modifiedMs = rng.chance(0.2) ? createdMs : rng.int(createdMs, EPOCH_END);
  return { createdMs, createdAt: iso(createdMs), modifiedAt: iso(modifiedMs) };
}
