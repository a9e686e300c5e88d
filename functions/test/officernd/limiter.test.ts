import { createReadLimiter, type ReadLimiter } from "../../src/officernd/limiter";
import { captureLogs, harness, type Harness } from "./helpers";

let h: Harness;
const logs = captureLogs();
afterAll(() => logs.stop());
afterEach(async () => h?.close());

function gaps(times: number[]): number[] {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted.slice(1).map((t, i) => t - (sorted[i] ?? t));
}

/** When each of `n` jobs scheduled at once started, in ms from now, in start order. */
async function startTimes(limiter: ReadLimiter, n: number): Promise<number[]> {
  const starts: number[] = [];
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: n }, () =>
      limiter.schedule(() => {
        starts.push(Date.now() - t0);
        return Promise.resolve();
      }),
    ),
  );
  return starts;
}

describe("read limiter", () => {
  it("does not space out reads a run needs fewer of than the minute's ceiling", async () => {
    h = await harness({ latencyMs: 40 });
    // 600 a minute: the five list requests of three listings fit in the window, so nothing
    // waits for the ceiling (even spacing made them share one start every 100 ms).
    const client = h.client({}, { readsPerMinute: 600 });
    await Promise.all([
      client.readAll("members"),
      client.readAll("companies"),
      client.readAll("opportunities"),
    ]);
    const starts = h.sandbox.stats.log.filter((l) => l.route === "list").map((l) => l.at);
    expect(starts).toHaveLength(5);
    const sorted = [...starts].sort((a, b) => a - b);
    // The three first pages go out together (spaced, they would span 200 ms).
    expect((sorted[2] ?? 0) - (sorted[0] ?? 0)).toBeLessThan(90);
    expect(client.stats().budget?.used).toBe(5);
  });

  it("never starts more than readsPerMinute requests in any window (a sliding window)", async () => {
    const windowMs = 400;
    const limiter = createReadLimiter({ readsPerMinute: 3, maxConcurrent: 4, windowMs });
    const starts = await startTimes(limiter, 7);
    limiter.stop();
    expect(starts).toHaveLength(7);
    // The first three at once, then each waits for the start three before it to leave the window.
    expect(starts[2] ?? Infinity).toBeLessThan(windowMs / 2);
    for (let i = 3; i < starts.length; i += 1) {
      expect((starts[i] ?? 0) - (starts[i - 3] ?? 0)).toBeGreaterThanOrEqual(windowMs - 5);
    }
    expect(limiter.stats().budgetWaitMs).toBeGreaterThan(0);
  });

  it("serves the best priority first, for slots in flight and at the budget gate", async () => {
    const order: string[] = [];
    const job = (name: string, holdUntil?: () => Promise<void>) => async () => {
      order.push(name);
      await holdUntil?.();
      await new Promise<void>((resolve) => setTimeout(resolve, 20));
    };
    /**
     * Resolves once `n` requests wait in `limiter` (bottleneck admits them timer by timer), or
     * after 2 s (then the order tells what went wrong instead of a test timeout).
     */
    const whenWaiting = (limiter: ReadLimiter, n: number) => async () => {
      const until = Date.now() + 2_000;
      while (limiter.stats().waiting < n && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    // Slots: one in flight, the rest queued at bottleneck by priority (0 first, 9 last). The
    // first holds its slot until all four wait: under load bottleneck may admit the last one
    // after a 20 ms job has ended (CI saw "chain" before "urgent" that way).
    const slots = createReadLimiter({ readsPerMinute: 100_000, maxConcurrent: 1 });
    await Promise.all([
      slots.schedule(job("first", whenWaiting(slots, 4))),
      slots.schedule(job("range-a"), undefined, 6),
      slots.schedule(job("chain"), undefined, 5),
      slots.schedule(job("range-b"), undefined, 6),
      slots.schedule(job("urgent"), undefined, 0),
    ]);
    slots.stop();
    expect(order).toEqual(["first", "urgent", "chain", "range-a", "range-b"]);
    expect(slots.stats().waiting).toBe(0);

    // The gate: two starts per 300 ms window; the third and later wait there, best first. The
    // window is timed by the limiter's clock, held still until all three wait at the gate (the
    // gate would otherwise pass whoever is there 300 ms after the first two, admitted or not).
    order.length = 0;
    let frozen = true;
    const t0 = Date.now();
    const gate = createReadLimiter({
      readsPerMinute: 2,
      maxConcurrent: 8,
      windowMs: 300,
      now: () => (frozen ? t0 : Date.now()),
    });
    const all = Promise.all([
      gate.schedule(job("a"), undefined, 5),
      gate.schedule(job("b"), undefined, 5),
      gate.schedule(job("range"), undefined, 6),
      gate.schedule(job("chain"), undefined, 5),
      gate.schedule(job("later-range"), undefined, 6),
    ]);
    await whenWaiting(gate, 3)();
    expect(gate.stats().waiting).toBe(3);
    frozen = false;
    await all;
    gate.stop();
    expect(order).toEqual(["a", "b", "chain", "range", "later-range"]);
  });

  it("bounds requests in flight with maxConcurrent", async () => {
    h = await harness({ latencyMs: 60 });
    const client = h.client({ maxConcurrent: 1 });
    await Promise.all([client.readAll("members"), client.readAll("companies")]);
    expect(h.sandbox.stats.maxInFlight).toBe(1);
    expect(client.stats().maxInFlight).toBe(1);
  });

  it("a pause holds queued jobs, then releases them spaced, not in a burst", async () => {
    const limiter = createReadLimiter({ readsPerMinute: 1_200, maxConcurrent: 4 });
    limiter.pauseFor(300);
    const starts = await startTimes(limiter, 4);
    limiter.stop();
    expect(Math.min(...starts)).toBeGreaterThanOrEqual(290);
    for (const gap of gaps(starts)) expect(gap).toBeGreaterThanOrEqual(40);
  });
});
