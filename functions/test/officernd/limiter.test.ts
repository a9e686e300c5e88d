import { createReadLimiter } from "../../src/officernd/limiter";
import { captureLogs, harness, type Harness } from "./helpers";

let h: Harness;
const logs = captureLogs();
afterAll(() => logs.stop());
afterEach(async () => h?.close());

function gaps(times: number[]): number[] {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted.slice(1).map((t, i) => t - (sorted[i] ?? t));
}

describe("read limiter", () => {
  it("spaces requests evenly at the read budget, across resources read side by side", async () => {
    h = await harness();
    // 600 reads a minute: one request every 100 ms, whatever the concurrency.
    const client = h.client({}, { readsPerMinute: 600 });
    const started = Date.now();
    await Promise.all([
      client.readAll("members"),
      client.readAll("companies"),
      client.readAll("opportunities"),
    ]);
    const starts = h.sandbox.stats.log.filter((l) => l.route === "list").map((l) => l.at);
    expect(starts).toHaveLength(5);
    // Spaced on the client; arrival at the server adds jitter under load (a loaded CI machine
    // can delay one arrival by tens of ms), so the bounds are loose. Unlimited, all five would
    // arrive within a few ms of each other.
    const sorted = [...starts].sort((a, b) => a - b);
    expect((sorted.at(-1) ?? 0) - (sorted[0] ?? 0)).toBeGreaterThanOrEqual(300);
    for (const gap of gaps(starts)) expect(gap).toBeGreaterThanOrEqual(40);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(client.stats().limiterWaitMs).toBeGreaterThan(0);
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
    const starts: number[] = [];
    const t0 = Date.now();
    limiter.pauseFor(300);
    await Promise.all(
      Array.from({ length: 4 }, () =>
        limiter.schedule(() => {
          starts.push(Date.now() - t0);
          return Promise.resolve();
        }),
      ),
    );
    limiter.stop();
    expect(Math.min(...starts)).toBeGreaterThanOrEqual(290);
    for (const gap of gaps(starts)) expect(gap).toBeGreaterThanOrEqual(40);
  });
});
