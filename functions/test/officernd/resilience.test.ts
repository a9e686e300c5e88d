import { OfficeRndError } from "../../src/officernd/types";
import { backoffDelay, parseRetryAfter } from "../../src/officernd/retry";
import { captureLogs, failure, harness, sleep, type Harness } from "./helpers";

let h: Harness;
const logs = captureLogs();
afterAll(() => logs.stop());
afterEach(async () => h?.close());

function apiLog() {
  return h.sandbox.stats.log.filter((l) => l.route === "list");
}

describe("retries", () => {
  it("recovers from a burst of 5xx and logs each retry", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "5xx", resource: "members", page: 2, times: 3 });
    const client = h.client();
    const listing = await client.readAll("members");
    expect(listing.records).toHaveLength(120);
    expect(client.stats()).toMatchObject({ requests: 6, retries: 3 });
    const retries = logs.entries.filter((e) => e.event === "officernd_retry");
    expect(retries.slice(-3).map((e) => [e.page, e.attempt, e.status])).toEqual([
      [2, 1, 503],
      [2, 2, 503],
      [2, 3, 503],
    ]);
  });

  it("gives up on a permanent 5xx after maxAttempts with a clear error", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "5xx", status: 502, resource: "companies" });
    const client = h.client({ maxAttempts: 3 });
    const error = await failure(client.readAll("companies"));
    expect(error).toBeInstanceOf(OfficeRndError);
    expect(error).toMatchObject({ code: "server", status: 502, resource: "companies", page: 1 });
    expect((error as OfficeRndError).retryable).toBe(true);
    expect(error.message).toMatch(/^OfficeRnD companies page 1: 502 .*gave up after 3 attempts/);
    expect(apiLog()).toHaveLength(3);
  });

  it("stops at maxTotalMs even when attempts remain", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "5xx" });
    const client = h.client({
      maxAttempts: 50,
      baseDelayMs: 100,
      maxDelayMs: 100,
      maxTotalMs: 250,
    });
    const started = Date.now();
    const error = await failure(client.readAll("members"));
    expect(error.message).toMatch(/would pass the 0.3 s limit/);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("honours Retry-After on a 429 (the wait is measured on the server side)", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "429", retryAfter: 1, resource: "members", page: 2, times: 1 });
    const client = h.client();
    const listing = await client.readAll("members");
    expect(listing.records).toHaveLength(120);
    const page2 = apiLog().filter((l) => l.page === 2);
    expect(page2.map((l) => l.status)).toEqual([429, 200]);
    const [throttled, retried] = page2;
    expect((retried?.at ?? 0) - (throttled?.end ?? 0)).toBeGreaterThanOrEqual(950);
    expect(client.stats()).toMatchObject({ throttled: 1, retries: 1 });
    expect(client.stats().waitMs).toBeGreaterThanOrEqual(1_000);
  });

  it("a 429 pauses every request of the run, not only the throttled one", async () => {
    h = await harness({
      latencyMs: 20,
      seed: { members: 300, companies: 300, opportunities: 300 },
    });
    h.sandbox.setFault({ kind: "429", retryAfter: 1, resource: "members", page: 2, times: 1 });
    const client = h.client();
    await Promise.all([
      client.readAll("members"),
      client.readAll("companies"),
      client.readAll("opportunities"),
    ]);
    const log = apiLog();
    const throttled = log.find((l) => l.status === 429);
    expect(throttled).toBeDefined();
    const t = throttled?.end ?? 0;
    // Requests already in flight may finish; none starts during the Retry-After second.
    const startedDuringPause = log.filter((l) => l.at > t + 100 && l.at < t + 900);
    expect(startedDuringPause).toEqual([]);
    expect(log.filter((l) => l.status === 200)).toHaveLength(18);
  });

  it("fails as throttled when Retry-After is longer than allowed", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "429", retryAfter: 3600 });
    const error = await failure(h.client({ maxRetryAfterMs: 5_000 }).readAll("members"));
    expect(error).toMatchObject({ code: "throttled", status: 429 });
    expect(error.message).toMatch(/Retry-After 3600.0 s is longer than the 5.0 s allowed/);
  });

  it("retries a timed-out request and recovers", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "hang", resource: "members", page: 1, times: 1 });
    h.sandbox.setFault({ kind: "slow", delayMs: 1_000, resource: "members", page: 2, times: 1 });
    const client = h.client({ timeoutMs: 200 });
    const started = Date.now();
    const listing = await client.readAll("members");
    expect(listing.records).toHaveLength(120);
    expect(client.stats().retries).toBe(2);
    expect(Date.now() - started).toBeLessThan(1_500);
    const timeouts = logs.entries.filter(
      (e) => e.event === "officernd_retry" && String(e.reason).includes("no answer within 200 ms"),
    );
    expect(timeouts.length).toBeGreaterThanOrEqual(2);
  });

  it("a request that never answers fails as a timeout after the cap", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "hang" });
    const error = await failure(h.client({ timeoutMs: 100, maxAttempts: 3 }).readAll("members"));
    expect(error).toMatchObject({ code: "timeout", page: 1, status: null });
    expect(error.message).toMatch(/no answer within 100 ms \(gave up after 3 attempts/);
  });

  it("retries a dropped connection", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "reset", resource: "companies", times: 2 });
    const client = h.client();
    await expect(client.readAll("companies")).resolves.toMatchObject({ pages: 1 });
    expect(client.stats().retries).toBe(2);
  });

  it("cancels a listing promptly through its AbortSignal", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "hang", resource: "members", page: 2 });
    const controller = new AbortController();
    const client = h.client({ timeoutMs: 10_000 });
    const reading = client.readAll("members", { signal: controller.signal });
    await sleep(100);
    const started = Date.now();
    controller.abort(new Error("another resource failed"));
    const error = await failure(reading);
    expect(error.message).toBe("another resource failed");
    // Promptly: well inside the 10 s request timeout (with room for a loaded CI machine).
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe("retry policy", () => {
  it("parses Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-11-25T10:00:00Z");
    expect(parseRetryAfter("7", now)).toBe(7_000);
    expect(parseRetryAfter("0", now)).toBe(0);
    expect(parseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 25 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });

  it("backs off exponentially with full jitter, capped", () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(backoffDelay(1, policy, () => 0.999)).toBe(99);
    expect(backoffDelay(3, policy, () => 0.999)).toBe(399);
    expect(backoffDelay(10, policy, () => 0.999)).toBe(999);
    expect(backoffDelay(4, policy, () => 0)).toBe(0);
  });

  it("waits for an HTTP-date Retry-After from the server", async () => {
    h = await harness();
    const at = new Date(Date.now() + 2_000).toUTCString();
    h.sandbox.setFault({ kind: "429", retryAfter: at, resource: "companies", times: 1 });
    const client = h.client();
    const started = Date.now();
    await client.readAll("companies");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(client.stats().throttled).toBe(1);
  });
});
