import { LIST_RULES } from "../../dev/sandbox/list-query";
import { errorDetail } from "../../src/officernd/http";
import { MAX_EMPTY_PAGES_IN_A_ROW, paginate } from "../../src/officernd/pages";
import { RANGE_OPERATORS, resourcePageUrl } from "../../src/officernd/query";
import { parseReset, ReadBudget } from "../../src/officernd/rate-limit";
import { RESOURCE_NAMES, RESOURCES } from "../../src/officernd/resources";
import { captureLogs, failure, harness, type Harness } from "./helpers";

/**
 * The client against what OfficeRnD's live API does (docs/officernd-api.md, "live" = the
 * published black-box test report of the live staging API, Feb 2026). One test per fact.
 */

let h: Harness;
const logs = captureLogs();
afterAll(() => logs.stop());
afterEach(async () => h?.close());

describe("parameters (live: unknown parameters and $limit > 50 are a 400)", () => {
  it("the registry's filters are exactly what the sandbox's reading of OfficeRnD accepts", () => {
    // Two independent readings of the reference: neither may drift alone.
    for (const name of RESOURCE_NAMES) {
      expect([...RESOURCES[name].rangeFilters].sort()).toEqual(
        [...LIST_RULES[name].rangeFields].sort(),
      );
      expect([...RESOURCES[name].unverifiedFilters].sort()).toEqual(
        [...LIST_RULES[name].unverifiedRangeFields].sort(),
      );
      expect(RESOURCES[name].count).toBe(LIST_RULES[name].count);
    }
  });

  it("never sends a parameter a resource does not accept", async () => {
    h = await harness({ seed: { members: 120, companies: 60, opportunities: 70 } });
    const client = h.client();
    for (const name of RESOURCE_NAMES) {
      await client.readAll(name);
      for (const field of RESOURCES[name].rangeFilters) {
        for (const op of RANGE_OPERATORS) {
          await client.readAll(name, { filters: [{ field, op, value: "2024-01-01T00:00:00Z" }] });
        }
      }
      await client.count(name);
    }
    expect(h.sandbox.stats.refusedParams).toBe(0);
    expect(h.sandbox.stats.byStatus["400"]).toBeUndefined();
    for (const entry of h.sandbox.stats.log.filter((l) => l.route === "list")) {
      const params = new URLSearchParams(entry.query);
      expect(Number(params.get("$limit"))).toBe(50);
    }
  });

  it("refuses to build a filter the resource does not take, before any request", async () => {
    h = await harness();
    // Opportunities' modifiedAt is unverified (tried by the incremental sync); createdAt is not.
    const filter = { field: "createdAt", op: "$gte", value: "2024-01-01T00:00:00Z" } as const;
    expect(() => resourcePageUrl(h.sandbox, "opportunities", { filters: [filter] })).toThrow(
      /opportunities does not accept a createdAt filter/,
    );
    const error = await failure(h.client().readAll("opportunities", { filters: [filter] }));
    expect(error).toMatchObject({ code: "bad_request" });
    expect(h.sandbox.stats.reads).toBe(0);
  });
});

describe("pagination (live: cursors absent on the last page, keyset by _id)", () => {
  it("completes listings whose last page, single page or empty list has no cursor fields", async () => {
    h = await harness({ seed: { members: 101, companies: 7, opportunities: 0 } });
    const client = h.client();
    expect((await client.readAll("members")).records).toHaveLength(101);
    expect((await client.readAll("companies")).records).toHaveLength(7);
    expect(await client.readAll("opportunities")).toMatchObject({ pages: 1, records: [] });
  });

  it("a listing whose ids do not ascend is invalid, loudly", async () => {
    h = await harness({ seed: { members: 120 } });
    h.sandbox.setFault({ kind: "unordered", resource: "members", page: 2 });
    const error = await failure(h.client().readAll("members"));
    expect(error).toMatchObject({ code: "pagination", page: 2 });
    expect(error.message).toMatch(/ascending _id/);
  });

  it("says so when a listing fails on a cursor OfficeRnD cannot read (live: 500)", async () => {
    h = await harness({ seed: { members: 120 } });
    h.sandbox.setFault({ kind: "tampered-cursor", resource: "members", page: 1, times: 1 });
    const error = await failure(h.client().readAll("members"));
    expect(error).toMatchObject({ code: "server", status: 500, page: 2 });
    expect(error.message).toMatch(/could not read the cursor/);
    expect(h.sandbox.stats.byStatus["500"]).toBe(1); // not retried: the cursor stays bad
  });

  it("stops after a few empty pages in a row that each bring a new cursor", async () => {
    // A keyset listing never returns an empty page before its end; a server that keeps doing so
    // would otherwise be followed for up to maxPages requests.
    let requests = 0;
    const fetchPage = (page: number) => {
      requests += 1;
      return Promise.resolve({ records: [], rejected: [], drift: [], cursorNext: `c${page}` });
    };
    const listing = async () => {
      for await (const _page of paginate("members", fetchPage, {
        maxPages: 10_000,
        prefetch: false,
      }));
    };
    const error = await failure(listing());
    expect(error).toMatchObject({ code: "pagination", page: MAX_EMPTY_PAGES_IN_A_ROW });
    expect(error.message).toMatch(/empty pages in a row/);
    expect(requests).toBe(MAX_EMPTY_PAGES_IN_A_ROW);
  });

  it("counts with /count where the resource has it; null where it has none", async () => {
    h = await harness({ seed: { members: 77, companies: 5, opportunities: 12 } });
    const client = h.client();
    expect(await client.count("members")).toBe(77);
    expect(await client.count("opportunities")).toBe(12);
    expect(await client.count("companies")).toBeNull();
    expect(h.sandbox.stats.log.filter((l) => l.route === "count")).toHaveLength(2);
  });
});

describe("rate limits (live: x-ratelimit-*-read-minute and -read-day on every answer)", () => {
  it("reads the reset as seconds from now or as an epoch time", () => {
    const now = Date.UTC(2026, 11, 1);
    expect(parseReset("42", now)).toBe(now + 42_000);
    expect(parseReset(String(now / 1000 + 42), now)).toBe(now + 42_000);
    expect(parseReset(String(now + 42_000), now)).toBe(now + 42_000);
    expect(parseReset(new Date(now + 42_000).toUTCString(), now)).toBe(now + 42_000);
    expect(parseReset("soon", now)).toBeNull();
  });

  it("waits for the window instead of provoking a 429 the headers announced", async () => {
    // A 1.5 s "minute" of 8 reads: 12 pages need two resets.
    h = await harness({
      seed: { members: 600, companies: 0, opportunities: 0 },
      readsPerMinute: 8,
      minuteWindowMs: 1_500,
    });
    const client = h.client();
    const started = Date.now();
    expect((await client.readAll("members")).records).toHaveLength(600);
    expect(h.sandbox.stats.throttled).toBe(0);
    expect(client.stats().throttled).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    const budget = client.stats().budget;
    expect(budget.used).toBe(12);
    expect(budget.minute).toMatchObject({ limit: 8 });
    expect(budget.day).toMatchObject({ limit: 20_000, remaining: 20_000 - 12 });
  });

  it("spreads the last reads of a low minute budget instead of sending them at once", () => {
    const budget = new ReadBudget({ lowShare: 0.2 });
    const now = 1_000_000;
    budget.observe(
      {
        "x-ratelimit-limit-read-minute": "100",
        "x-ratelimit-remaining-read-minute": "50",
        "x-ratelimit-reset-read-minute": "30",
      },
      now,
    );
    expect(budget.verdict(0, now)).toEqual({ kind: "go" });
    budget.observe(
      {
        "x-ratelimit-limit-read-minute": "100",
        "x-ratelimit-remaining-read-minute": "10",
        "x-ratelimit-reset-read-minute": "30",
      },
      now,
    );
    budget.started(now);
    const verdict = budget.verdict(0, now + 10);
    expect(verdict.kind).toBe("wait");
    // 10 reads over the 30 s left: about 3 s apart.
    expect(verdict.kind === "wait" && verdict.ms).toBeGreaterThan(2_900);
    expect(budget.verdict(10, now + 10)).toMatchObject({ kind: "wait", ms: 30_250 - 10 });
  });

  it("completes through 429s that carry no Retry-After (undocumented)", async () => {
    h = await harness({ seed: { members: 120 } });
    h.sandbox.setFault({ kind: "429", resource: "members", page: 2, times: 2, retryAfter: null });
    const client = h.client({ baseDelayMs: 20 });
    expect((await client.readAll("members")).records).toHaveLength(120);
    expect(client.stats().throttled).toBe(2);
  });

  it("a spent daily quota fails within seconds, naming the quota and its reset", async () => {
    h = await harness({ seed: { members: 120 } });
    h.sandbox.exhaustDailyQuota();
    const started = Date.now();
    const error = await failure(h.client().readAll("members"));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(error).toMatchObject({ code: "quota_exhausted", retryable: false });
    expect(error.message).toMatch(/daily read quota is spent.*resets at \d{4}-\d\d-\d\dT/);
    expect(h.sandbox.stats.reads).toBe(1);
  });
});

describe("errors (live body: {statusCode, message, error, timestamp, path})", () => {
  it("reports every entry of an array message", () => {
    const body = JSON.stringify({
      statusCode: 400,
      message: ["property unknownParam should not exist", "$limit must not be greater than 50"],
      error: "Bad Request",
      timestamp: "2026-02-10T10:00:00.000Z",
      path: "/api/v2/organizations/acme/members",
    });
    expect(errorDetail(body, "application/json")).toBe(
      "Bad Request: property unknownParam should not exist; $limit must not be greater than 50",
    );
  });
});
