import {
  SANDBOX_SCOPES,
  seedData,
  startSandbox,
  type JsonValue,
  type Sandbox,
} from "../../dev/sandbox";
import { RESOURCES } from "../../src/officernd/resources";

/** The sandbox itself, spoken to with plain fetch: it must behave like OfficeRnD as documented. */

let sandbox: Sandbox;
afterEach(async () => sandbox?.close());

const SCOPES =
  "flex.community.members.read flex.community.companies.read flex.community.opportunities.read";

async function token(form: Record<string, string> = {}) {
  const response = await fetch(sandbox.tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      client_id: sandbox.clientId,
      client_secret: sandbox.clientSecret,
      grant_type: "client_credentials",
      scope: SCOPES,
      ...form,
    }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

async function accessToken(scope = SCOPES): Promise<string> {
  const { body } = await token({ scope });
  return String(body.access_token);
}

interface Envelope {
  results: Record<string, JsonValue>[];
  /** Absent (not null) when there is no such page (live, docs/officernd-api.md). */
  cursorNext?: string;
  cursorPrev?: string;
  rangeStart: number;
  rangeEnd: number;
}

async function list(path: string, bearer: string | null, query = "") {
  const response = await fetch(`${sandbox.apiUrl}/organizations/${path}${query}`, {
    headers: bearer === null ? {} : { authorization: `Bearer ${bearer}` },
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: () => JSON.parse(text) as Envelope,
  };
}

describe("sandbox token endpoint", () => {
  it("answers client credentials like OfficeRnD", async () => {
    sandbox = await startSandbox();
    const { status, body, headers } = await token();
    expect(status).toBe(200);
    expect(headers.get("cache-control")).toBe("no-store");
    expect(body).toEqual({
      access_token: expect.stringMatching(/^[\w-]{40,}$/) as unknown,
      token_type: "Bearer",
      expires_in: 3599,
      scope: SCOPES,
    });
  });

  it("refuses wrong credentials, grants and scopes with OAuth errors", async () => {
    sandbox = await startSandbox({ tokenRequestsPerMinute: null });
    expect(await token({ client_secret: "nope" })).toMatchObject({
      status: 401,
      body: { error: "invalid_client" },
    });
    expect(await token({ grant_type: "password" })).toMatchObject({
      status: 400,
      body: { error: "unsupported_grant_type" },
    });
    expect(await token({ scope: "flex.community.members.write" })).toMatchObject({
      status: 400,
      body: { error: "invalid_scope" },
    });
  });

  it("allows about 5 token requests a minute", async () => {
    sandbox = await startSandbox();
    for (let i = 0; i < 5; i += 1) expect((await token()).status).toBe(200);
    const sixth = await token();
    expect(sixth.status).toBe(429);
    expect(Number(sixth.headers.get("retry-after"))).toBeGreaterThan(50);
    expect(sandbox.stats.tokenThrottled).toBe(1);
  });
});

describe("sandbox lists", () => {
  it("checks the bearer token, its expiry, its scope and the organization", async () => {
    sandbox = await startSandbox();
    const org = sandbox.orgSlug;
    expect((await list(`${org}/members`, null)).status).toBe(401);
    expect((await list(`${org}/members`, "made-up")).status).toBe(401);
    const membersOnly = await accessToken("flex.community.members.read");
    expect((await list(`${org}/members`, membersOnly)).status).toBe(200);
    expect((await list(`${org}/companies`, membersOnly)).status).toBe(403);
    // Live: a wrong org slug is a 500 "Organization not found", not a 404 (docs/officernd-api.md).
    const wrongOrg = await list(`other-org/members`, membersOnly);
    expect(wrongOrg.status).toBe(500);
    expect(JSON.parse(wrongOrg.text)).toMatchObject({
      statusCode: 500,
      message: "Organization not found",
      error: "Internal Server Error",
      path: "/api/v2/organizations/other-org/members",
    });
    expect((await list(`${org}/invoices`, membersOnly)).status).toBe(404);
    sandbox.expireTokens();
    const expired = await list(`${org}/members`, membersOnly);
    expect(expired.status).toBe(401);
    expect(expired.headers.get("www-authenticate")).toMatch(/invalid_token/);
  });

  it("pages with $limit (default 50, at most 50) and _id keyset cursors to the end", async () => {
    sandbox = await startSandbox({ seed: { members: 120 } });
    const bearer = await accessToken();
    const path = `${sandbox.orgSlug}/members`;
    expect((await list(path, bearer)).json().results).toHaveLength(50);
    // Live: $limit=51 is a 400 "$limit must not be greater than 50"; 0 falls back to 20; abc is
    // a 400 (docs/officernd-api.md).
    const tooMany = await list(path, bearer, "?$limit=51");
    expect(tooMany.status).toBe(400);
    expect(JSON.parse(tooMany.text)).toMatchObject({
      statusCode: 400,
      message: ["$limit must not be greater than 50"],
      error: "Bad Request",
    });
    expect((await list(path, bearer, "?$limit=0")).json().results).toHaveLength(20);
    expect((await list(path, bearer, "?$limit=abc")).status).toBe(400);

    const ids: string[] = [];
    const ranges: [number, number][] = [];
    let cursor: string | null = null;
    do {
      const query: string = `?$limit=7${cursor === null ? "" : `&$cursorNext=${encodeURIComponent(cursor)}`}`;
      const page = (await list(path, bearer, query)).json();
      ids.push(...page.results.map((r) => str(r._id)));
      ranges.push([page.rangeStart, page.rangeEnd]);
      if (page.cursorNext !== undefined) {
        // Live cursors decode to {"k":"_id","p":<page size>,"v":"<last _id>"}.
        const decoded: unknown = JSON.parse(Buffer.from(page.cursorNext, "base64").toString());
        expect(decoded).toEqual({ k: "_id", p: 7, v: page.results.at(-1)?._id });
      } else {
        expect("cursorNext" in page).toBe(false);
      }
      cursor = page.cursorNext ?? null;
    } while (cursor !== null);
    expect(ids).toEqual(sandbox.data.members.ids());
    expect(ranges[0]).toEqual([1, 7]);
    expect(ranges.at(-1)).toEqual([120, 120]);
    expect([...ids].sort()).toEqual(ids);
    // Live: a tampered cursor is a 500 (a JSON parse error); both cursors at once a 504.
    const cut = Buffer.from('{"k":"_id","p":50,"v":"5c4').toString("base64");
    const tampered = await list(path, bearer, `?$cursorNext=${encodeURIComponent(cut)}`);
    expect(tampered.status).toBe(500);
    expect(tampered.text).toMatch(/JSON/);
    const first = (await list(path, bearer)).json();
    const both = `?$cursorNext=${encodeURIComponent(first.cursorNext ?? "")}&$cursorPrev=${encodeURIComponent(first.cursorNext ?? "")}`;
    expect((await list(path, bearer, both)).status).toBe(504);
  });

  it("leaves the cursor fields out on a single page and an empty list (live)", async () => {
    sandbox = await startSandbox({ seed: { members: 3, companies: 0 } });
    const bearer = await accessToken();
    const single = JSON.parse((await list(`${sandbox.orgSlug}/members`, bearer)).text) as object;
    expect(Object.keys(single).sort()).toEqual(["rangeEnd", "rangeStart", "results"]);
    const empty = JSON.parse((await list(`${sandbox.orgSlug}/companies`, bearer)).text) as object;
    expect(empty).toEqual({ rangeStart: 0, rangeEnd: 0, results: [] });
  });

  it("refuses unknown parameters and filters a resource does not take (live: 400)", async () => {
    sandbox = await startSandbox();
    const bearer = await accessToken();
    const org = sandbox.orgSlug;
    const unknown = await list(`${org}/members`, bearer, "?unknownParam=x");
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.text)).toMatchObject({
      message: ["property unknownParam should not exist"],
    });
    // Members and companies take modifiedAt ranges; opportunities' modifiedAt is not verified
    // (the sandbox takes it: one reading the incremental sync tries), their createdAt is refused.
    const since = "modifiedAt[$gte]=2024-01-01T00:00:00.000Z";
    expect((await list(`${org}/members`, bearer, `?${since}`)).status).toBe(200);
    expect((await list(`${org}/companies`, bearer, `?${since}`)).status).toBe(200);
    expect((await list(`${org}/opportunities`, bearer, `?${since}`)).status).toBe(200);
    const created = "createdAt[$gte]=2024-01-01T00:00:00.000Z";
    expect((await list(`${org}/opportunities`, bearer, `?${created}`)).status).toBe(400);
    expect(sandbox.stats.refusedParams).toBe(2);
  });

  it("serves the design's next types as the live API does (docs/officernd-api.md)", async () => {
    sandbox = await startSandbox();
    const bearer = await accessToken(Object.values(SANDBOX_SCOPES).join(" "));
    const org = sandbox.orgSlug;
    // Locations and events carry no createdAt/modifiedAt (live).
    for (const resource of ["locations", "events"]) {
      const page = (await list(`${org}/${resource}`, bearer)).json();
      expect(page.results.length).toBeGreaterThan(0);
      for (const r of page.results) {
        expect(r).not.toHaveProperty("createdAt");
        expect(r).not.toHaveProperty("modifiedAt");
      }
    }
    // Events filter on start/end; locations take no date filter (live: 400 for unknown ones).
    const since = "2024-01-01T00:00:00.000Z";
    const events = sandbox.data.events.all().filter((e) => str(e.start) >= since).length;
    const filtered = (await list(`${org}/events`, bearer, `?start[$gte]=${since}`)).json();
    expect(filtered.results).toHaveLength(Math.min(50, events));
    expect((await list(`${org}/events`, bearer, `?modifiedAt[$gte]=${since}`)).status).toBe(400);
    expect((await list(`${org}/locations`, bearer, `?createdAt[$gte]=${since}`)).status).toBe(400);
    // A booking just created has no modifiedAt (live), but a createdAt.
    const bookings = sandbox.data.bookings.all();
    expect(bookings.some((b) => !("modifiedAt" in b))).toBe(true);
    expect(bookings.every((b) => typeof b.createdAt === "string")).toBe(true);
    // /count: events and bookings have it, locations not.
    expect(JSON.parse((await list(`${org}/bookings/count`, bearer)).text)).toEqual({
      total: bookings.length,
    });
    expect((await list(`${org}/locations/count`, bearer)).status).toBe(404);
  });

  it("counts with /count for the resources that have it (live: {total: N})", async () => {
    sandbox = await startSandbox({ seed: { members: 77, opportunities: 12 } });
    const bearer = await accessToken();
    const org = sandbox.orgSlug;
    expect(JSON.parse((await list(`${org}/members/count`, bearer)).text)).toEqual({ total: 77 });
    expect(JSON.parse((await list(`${org}/opportunities/count`, bearer)).text)).toEqual({
      total: 12,
    });
    // Companies have no count endpoint: "count" is taken as a record id.
    expect((await list(`${org}/companies/count`, bearer)).status).toBe(404);
  });

  it("goes back with cursorPrev", async () => {
    sandbox = await startSandbox({ seed: { members: 120 } });
    const bearer = await accessToken();
    const path = `${sandbox.orgSlug}/members`;
    const first = (await list(path, bearer)).json();
    expect(first.cursorPrev).toBeUndefined();
    const second = (await list(path, bearer, `?$cursorNext=${first.cursorNext}`)).json();
    const back = (await list(path, bearer, `?$cursorPrev=${second.cursorPrev}`)).json();
    expect(back.results).toEqual(first.results);
  });

  it("filters on modifiedAt and createdAt ranges", async () => {
    sandbox = await startSandbox({ seed: { members: 200, seed: 4 } });
    const bearer = await accessToken();
    const all = sandbox.data.members.all();
    const since = "2024-06-01T00:00:00.000Z";
    const count = async (query: string) => {
      let n = 0;
      let cursor: string | null = null;
      do {
        const page: Envelope = (
          await list(
            `${sandbox.orgSlug}/members`,
            bearer,
            `?${query}${cursor ? `&$cursorNext=${cursor}` : ""}`,
          )
        ).json();
        n += page.results.length;
        cursor = page.cursorNext ?? null;
      } while (cursor !== null);
      return n;
    };
    const modified = all.filter((r) => str(r.modifiedAt) >= since).length;
    expect(await count(`modifiedAt[$gte]=${since}`)).toBe(modified);
    expect(await count(`modifiedAt%5B%24gte%5D=${encodeURIComponent(since)}`)).toBe(modified);
    expect(await count(`createdAt[$lt]=${since}`)).toBe(
      all.filter((r) => str(r.createdAt) < since).length,
    );
    expect(
      (await list(`${sandbox.orgSlug}/members`, bearer, "?modifiedAt[$gte]=yesterday")).status,
    ).toBe(400);
  });

  it("states the read budget on every answer and answers 429 past it (live headers)", async () => {
    sandbox = await startSandbox({ readsPerMinute: 3, readsPerDay: 1000 });
    const bearer = await accessToken();
    for (let i = 0; i < 3; i += 1) {
      const ok = await list(`${sandbox.orgSlug}/companies`, bearer);
      expect(ok.status).toBe(200);
      expect(ok.headers.get("x-ratelimit-limit-read-minute")).toBe("3");
      expect(ok.headers.get("x-ratelimit-remaining-read-minute")).toBe(String(2 - i));
      expect(ok.headers.get("x-ratelimit-limit-read-day")).toBe("1000");
      expect(ok.headers.get("x-ratelimit-remaining-read-day")).toBe(String(999 - i));
      expect(Number(ok.headers.get("x-ratelimit-reset-read-minute"))).toBeLessThanOrEqual(60);
    }
    const throttled = await list(`${sandbox.orgSlug}/companies`, bearer);
    expect(throttled.status).toBe(429);
    // Whether a 429 carries Retry-After is not documented: by default it does not.
    expect(throttled.headers.get("retry-after")).toBeNull();
    expect(throttled.headers.get("x-ratelimit-remaining-read-minute")).toBe("0");
    const reset = Number(throttled.headers.get("x-ratelimit-reset-read-minute"));
    expect(reset).toBeGreaterThanOrEqual(59);
    expect(reset).toBeLessThanOrEqual(60);
    expect(sandbox.stats.throttled).toBe(1);
    sandbox.configure({ readsPerMinute: null });
    expect((await list(`${sandbox.orgSlug}/companies`, bearer)).status).toBe(200);
    // A spent daily quota: 429 with remaining-read-day 0 until it resets.
    sandbox.exhaustDailyQuota();
    const spent = await list(`${sandbox.orgSlug}/companies`, bearer);
    expect(spent.status).toBe(429);
    expect(spent.headers.get("x-ratelimit-remaining-read-day")).toBe("0");
    // The reset can be an epoch time too (its meaning is not documented).
    sandbox.configure({ resetFormat: "epoch-seconds", retryAfterOn429: true });
    const epoch = await list(`${sandbox.orgSlug}/companies`, bearer);
    expect(Number(epoch.headers.get("x-ratelimit-reset-read-day"))).toBeGreaterThan(
      Date.now() / 1000,
    );
    expect(Number(epoch.headers.get("retry-after"))).toBeGreaterThan(3600);
  });

  it("serves faults as configured: times, every, page and resource", async () => {
    sandbox = await startSandbox({ readsPerMinute: null });
    const bearer = await accessToken();
    const handle = sandbox.setFault({ kind: "5xx", resource: "companies", every: 2, times: 2 });
    const statuses = [];
    for (let i = 0; i < 6; i += 1)
      statuses.push((await list(`${sandbox.orgSlug}/companies`, bearer)).status);
    expect(statuses).toEqual([200, 503, 200, 503, 200, 200]);
    expect(handle.served()).toBe(2);
    expect(sandbox.faults.list()).toEqual([]);
    expect((await list(`${sandbox.orgSlug}/members`, bearer)).status).toBe(200);
    sandbox.setFault({ kind: "truncated" });
    const truncated = await list(`${sandbox.orgSlug}/members`, bearer);
    expect(truncated.status).toBe(200);
    expect(() => truncated.json()).toThrow();
    sandbox.clearFaults();
    expect(sandbox.stats.faultsServed).toBe(3);
  });

  it("counts requests per resource and their timing", async () => {
    sandbox = await startSandbox({ latencyMs: 30 });
    const bearer = await accessToken();
    await Promise.all([
      list(`${sandbox.orgSlug}/members`, bearer),
      list(`${sandbox.orgSlug}/companies`, bearer),
      list(`${sandbox.orgSlug}/companies`, bearer),
    ]);
    expect(sandbox.stats.byResource).toEqual({
      members: 1,
      companies: 2,
      opportunities: 0,
      locations: 0,
      events: 0,
      bookings: 0,
    });
    expect(sandbox.stats.maxInFlight).toBeGreaterThanOrEqual(2);
    const entry = sandbox.stats.log.find((l) => l.route === "list");
    expect((entry?.end ?? 0) - (entry?.at ?? 0)).toBeGreaterThanOrEqual(25);
    expect(sandbox.env()).toEqual({
      OFFICERND_ORG_SLUG: sandbox.orgSlug,
      OFFICERND_CLIENT_ID: sandbox.clientId,
      OFFICERND_CLIENT_SECRET: sandbox.clientSecret,
      OFFICERND_API_URL: `${sandbox.url}/api/v2`,
      OFFICERND_TOKEN_URL: `${sandbox.url}/oauth/token`,
    });
  });
});

function str(value: JsonValue | undefined): string {
  return typeof value === "string" ? value : "";
}

function hasNestedArray(value: JsonValue, insideArray = false): boolean {
  if (Array.isArray(value)) return insideArray || value.some((v) => hasNestedArray(v, true));
  if (value !== null && typeof value === "object") {
    return Object.values(value).some((v) => hasNestedArray(v, false));
  }
  return false;
}

describe("seed data", () => {
  it("is deterministic, realistic and valid for the product's schemas", () => {
    const a = seedData({ seed: 42 });
    expect(JSON.stringify(seedData({ seed: 42 }))).toBe(JSON.stringify(a));
    expect(JSON.stringify(seedData({ seed: 43 }))).not.toBe(JSON.stringify(a));
    expect([a.members.length, a.companies.length, a.opportunities.length]).toEqual([120, 30, 45]);

    const all = [...a.members, ...a.companies, ...a.opportunities];
    expect(new Set(all.map((r) => r._id)).size).toBe(all.length);
    for (const record of all) {
      expect(record._id).toMatch(/^[0-9a-f]{24}$/);
      expect(hasNestedArray(record)).toBe(false);
      expect(new Date(str(record.modifiedAt)) >= new Date(str(record.createdAt))).toBe(true);
    }
    for (const [name, records] of Object.entries(a)) {
      const { schema } = RESOURCES[name as keyof typeof RESOURCES];
      for (const record of records) expect(schema.safeParse(record).success).toBe(true);
    }
    const companyIds = new Set(a.companies.map((c) => c._id));
    const memberIds = new Set(a.members.map((m) => m._id));
    expect(a.members.every((m) => m.company === null || companyIds.has(str(m.company)))).toBe(true);
    expect(a.opportunities.every((o) => o.member === null || memberIds.has(str(o.member)))).toBe(
      true,
    );

    const text = JSON.stringify(a);
    expect(text).toMatch(/[\u3040-\u30ff]/); // Japanese
    expect(text).toMatch(/\p{Extended_Pictographic}/u); // emoji
    expect(a.members.some((m) => m.email === null)).toBe(true);
    expect(a.members.some((m) => typeof m.x_legacyCode === "string")).toBe(true);
  });

  it("generates the benchmark's 17,000 records quickly", () => {
    const started = Date.now();
    const big = seedData({ members: 10_000, companies: 2_000, opportunities: 5_000 });
    // Generous: the suite runs test files side by side on two cores (about 1 s alone).
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(big.members).toHaveLength(10_000);
  });
});
