import { randomBytes } from "node:crypto";
import type { JsonValue } from "../../dev/sandbox";
import type { ResourceName } from "../../src/officernd/resources";
import type { ApiCase } from "./api-group";
import { tapPages } from "./faults";
import type { CaseStack } from "./harness";
import { goodIds } from "./known-content";
import { seconds } from "./results";

/**
 * The OfficeRnD rows of the reliability table: each one a fault the sandbox (or a reader wrapper)
 * injects, the run's expected outcome, and what else that outcome must show. The driver
 * (./api-group.ts) seeds the known content, runs, and checks what every case checks.
 */

/** Requests the sandbox answered with `status`. */
export function served(stack: CaseStack, status: number): number {
  return stack.sandbox.stats.log.filter((l) => l.status === status).length;
}

/** The request timeout of the hang cases (the others allow 3 s, for a loaded machine). */
const HANG_TIMEOUT_MS = 800;

export const API_CASES: ApiCase[] = [
  {
    name: "429 storm with Retry-After",
    fault: "9 × 429 (Retry-After: 0.2 s) across all resources",
    expect: { status: "completed" },
    inject: (s) => s.sandbox.setFault({ kind: "429", times: 9, retryAfter: 0.2 }),
    check: (r, s, row) => {
      expect(r.api.throttled).toBe(9);
      expect(r.api.waitMs).toBeGreaterThanOrEqual(9 * 200);
      // Measured on the server: no request for a page came sooner than Retry-After after its 429.
      const lists = s.sandbox.stats.log.filter((l) => l.route === "list");
      lists.forEach((entry, i) => {
        if (entry.status !== 429) return;
        const next = lists
          .slice(i + 1)
          .find((l) => l.resource === entry.resource && l.page === entry.page);
        expect(next).toBeDefined();
        expect((next?.at ?? 0) - entry.end).toBeGreaterThanOrEqual(190);
      });
      row.notes = `9 × 429 honoured (≥ 0.2 s before each retry, measured at the sandbox); ${r.api.retries} retries`;
    },
  },
  {
    name: "5xx on 1 in 5 requests",
    fault: "503 on every 5th API request",
    expect: { status: "completed" },
    inject: (s) => s.sandbox.setFault({ kind: "5xx", every: 5, status: 503 }),
    check: (r, s, row) => {
      const failures = served(s, 503);
      expect(failures).toBeGreaterThanOrEqual(1);
      expect(r.api.retries).toBeGreaterThanOrEqual(failures);
      row.notes = `${failures} of ${s.sandbox.stats.reads} requests answered 503, each retried with backoff`;
    },
  },
  {
    name: "permanent 5xx",
    fault: "502 on every request for members page 2",
    expect: {
      status: "failed",
      code: "server",
      retryable: true,
      message: /members: OfficeRnD read failed \(server\).*502.*gave up after 6 attempts/,
    },
    removesNothing: true,
    inject: (s) => s.sandbox.setFault({ kind: "5xx", resource: "members", page: 2, status: 502 }),
    check: (r, _s, row) => {
      expect(r.resources.members.removed).toBe(0);
      row.notes = `gave up after 6 attempts; the listings stopped, ${r.written} repairs read before it written, nothing removed`;
    },
  },
  {
    name: "hanging response (once)",
    fault: "companies page 1 never answers, once",
    expect: { status: "completed" },
    client: { timeoutMs: HANG_TIMEOUT_MS },
    inject: (s) => s.sandbox.setFault({ kind: "hang", resource: "companies", times: 1 }),
    check: (r, _s, row) => {
      expect(r.api.retries).toBeGreaterThanOrEqual(1);
      row.notes = "timed out after 0.8 s, retried, completed";
    },
  },
  {
    name: "hanging responses (always)",
    fault: "opportunities never answer",
    expect: {
      status: "failed",
      code: "timeout",
      retryable: true,
      message: /opportunities: OfficeRnD read failed \(timeout\).*no answer within 800 ms/,
    },
    removesNothing: true,
    client: { maxAttempts: 2, timeoutMs: HANG_TIMEOUT_MS },
    inject: (s) => s.sandbox.setFault({ kind: "hang", resource: "opportunities" }),
    check: (r, _s, row) => {
      expect(r.durationMs).toBeLessThan(10_000);
      row.notes = `2 attempts × 0.8 s timeout, run ended in ${seconds(r.durationMs)}`;
    },
  },
  {
    name: "HTML maintenance page with 200",
    fault: "200 text/html for companies",
    expect: {
      status: "failed",
      code: "invalid_response",
      retryable: true,
      message: /companies page 1: an HTML page/,
    },
    removesNothing: true,
    inject: (s) => s.sandbox.setFault({ kind: "html", resource: "companies" }),
  },
  {
    name: "truncated JSON",
    fault: "members page 3 cut in half (Content-Length matches)",
    expect: {
      status: "failed",
      code: "invalid_response",
      retryable: true,
      message: /members page 3: a body that is not valid JSON/,
    },
    removesNothing: true,
    inject: (s) => s.sandbox.setFault({ kind: "truncated", resource: "members", page: 3 }),
  },
  {
    name: "records without _id",
    fault: "3 members on page 2 lose their _id",
    expect: {
      status: "failed",
      code: "invalid_records",
      retryable: false,
      message: /members: 3 record\(s\) failed validation and were not stored/,
    },
    inject: (s) =>
      s.sandbox.setFault({ kind: "bad-record", resource: "members", page: 2, count: 3 }),
    check: (r, _s, row) => {
      expect(r.resources.members).toMatchObject({ rejected: 3, removed: 0 });
      // Only the resource with rejected records holds back its removals.
      expect(r.resources.companies.removed).toBe(2);
      row.notes = `rejected and counted; members' removals held back, other repairs applied (${r.written} written)`;
    },
  },
  {
    name: "records with wrong types",
    fault:
      "company name 12345, opportunity probability 'high', member properties [] and startDate '' (OfficeRnD's data); a member _id 'not-an-officernd-id'",
    expect: {
      status: "failed",
      code: "invalid_records",
      retryable: false,
      message: /members: 1 record\(s\) failed validation and were not stored/,
    },
    changesTruth: true,
    inject: (s, known) => {
      const odd = (resource: ResourceName, id: string, patch: Record<string, JsonValue>) => {
        const updated = s.sandbox.data[resource].update(id, patch);
        s.truth[resource] = s.truth[resource].map((r) => (r._id === id ? updated : r));
      };
      odd("companies", goodIds(known, "companies")[3] ?? "", { name: 12345 });
      odd("opportunities", goodIds(known, "opportunities")[4] ?? "", { probability: "high" });
      odd("members", goodIds(known, "members")[5] ?? "", { properties: [], startDate: "" });
      s.sandbox.data.members.add({ _id: "not-an-officernd-id", name: "Ghost" });
    },
    check: (r, _s, row) => {
      // Only a record without a valid _id cannot be stored; wrong types are stored as sent.
      expect(r.resources.members).toMatchObject({ rejected: 1, removed: 0, drifted: 1 });
      expect(r.resources.companies).toMatchObject({ rejected: 0, drifted: 1, removed: 2 });
      expect(r.resources.opportunities).toMatchObject({ rejected: 0, drifted: 1 });
      expect(r.resources.companies.warning).toMatch(/stored as OfficeRnD sent them/);
      row.notes =
        "odd types stored as sent, reported as drift warnings; only the record without a valid _id held back members' removals";
    },
  },
  {
    name: "envelope with wrong types",
    fault: "opportunities page 2: {data, next, total} instead of {results, cursorNext}",
    expect: {
      status: "failed",
      code: "invalid_response",
      retryable: true,
      message: /opportunities page 2: a JSON body with results/,
    },
    removesNothing: true,
    inject: (s) =>
      s.sandbox.setFault({ kind: "wrong-envelope", resource: "opportunities", page: 2 }),
  },
  {
    name: "repeating cursor",
    fault: "members cursorNext echoes the request's cursor",
    expect: {
      status: "failed",
      code: "pagination",
      retryable: false,
      message: /members page 2: cursorNext repeats an earlier cursor/,
    },
    removesNothing: true,
    inject: (s) => s.sandbox.setFault({ kind: "repeat-cursor", resource: "members" }),
  },
  {
    name: "duplicate ids across pages",
    fault: "members page 3 repeats the last record of page 2",
    expect: {
      status: "failed",
      code: "duplicate_id",
      retryable: true,
      message: /members page 3: _id [0-9a-f]{24} was already listed on page 2/,
    },
    removesNothing: true,
    inject: (s) => s.sandbox.setFault({ kind: "duplicate", resource: "members", page: 3 }),
  },
  // Live-API behaviour (docs/officernd-api.md): what the live API does when things go wrong.
  {
    name: "listing cut short (no cursorNext)",
    fault: "members page 2 has no cursorNext although 60 more follow (live: absent = last page)",
    expect: {
      status: "failed",
      code: "incomplete_listing",
      retryable: true,
      message: /members: OfficeRnD's \/count says 160 but the listing returned 100/,
    },
    inject: (s) => s.sandbox.setFault({ kind: "cut-short", resource: "members", page: 2 }),
    check: (r, _s, row) => {
      expect(r.resources.members).toMatchObject({ api: 100, removed: 0 });
      row.notes = "/count caught the short listing: 60 removals held back, updates still applied";
    },
  },
  {
    name: "ids out of order",
    fault: "members page 2 in descending _id order (live pages ascend by _id)",
    expect: { status: "failed", code: "pagination", retryable: false, message: /ascending _id/ },
    removesNothing: true,
    inject: (s) => s.sandbox.setFault({ kind: "unordered", resource: "members", page: 2 }),
  },
  {
    name: "429 without Retry-After",
    fault: "6 × 429 with no Retry-After header (undocumented at OfficeRnD)",
    expect: { status: "completed" },
    inject: (s) => s.sandbox.setFault({ kind: "429", times: 6, retryAfter: null }),
    check: (r, _s, row) => {
      expect(r.api.throttled).toBe(6);
      row.notes = "each 429 backed off (the minute budget was not spent), then completed";
    },
  },
  {
    name: "daily read quota spent",
    fault: "x-ratelimit-remaining-read-day: 0 (live: a daily quota besides the minute's)",
    expect: {
      status: "failed",
      code: "quota_exhausted",
      retryable: false,
      message: /daily read quota is spent .*resets at \d{4}-/,
    },
    writesNothing: true,
    inject: (s) => s.sandbox.exhaustDailyQuota(),
    check: (r, _s, row) => {
      expect(r.durationMs).toBeLessThan(5_000);
      expect(r.api.retries).toBe(0);
      row.notes = `failed in ${seconds(r.durationMs)} without a retry; the reset time is in the message`;
    },
  },
  {
    name: "wrong organization slug",
    fault: "OFFICERND_ORG_SLUG with a typo (live: 500 Organization not found)",
    expect: {
      status: "failed",
      code: "org_not_found",
      retryable: false,
      message: /"acme-typo".*OFFICERND_ORG_SLUG/,
    },
    writesNothing: true,
    inject: (s) => {
      s.officeRnd = { ...s.officeRnd, orgSlug: "acme-typo" };
    },
    check: (r, _s, row) => {
      expect(r.api.retries).toBe(0);
      row.notes = `failed in ${seconds(r.durationMs)}: a configuration error, not retried as a 500`;
    },
  },
  {
    name: "token endpoint 429",
    fault: "2 × 429 (Retry-After: 0.2 s) from /oauth/token",
    expect: { status: "completed" },
    inject: (s) => s.sandbox.setFault({ kind: "token-429", times: 2, retryAfter: 0.2 }),
    check: (r, _s, row) => {
      expect(r.api.tokenRequests).toBe(3);
      row.notes = "3 token requests (2 throttled), within the endpoint's 5 a minute";
    },
  },
  {
    name: "token expiring mid-run",
    fault: "every issued token expires after members page 1",
    expect: { status: "completed" },
    inject: () => undefined,
    wrap: (reader, s) => {
      let expired = false;
      return tapPages(reader, (page) => {
        if (!expired && page.resource === "members" && page.page === 1) {
          expired = true;
          s.sandbox.expireTokens();
        }
      });
    },
    check: (r, s, row) => {
      expect(served(s, 401)).toBeGreaterThanOrEqual(1);
      expect(r.api.tokenRequests).toBe(2);
      row.notes = `${served(s, 401)} × 401 (expired), one new token, requests retried`;
    },
  },
  {
    name: "wrong credentials",
    fault: "a wrong client secret",
    expect: {
      status: "failed",
      code: "auth",
      retryable: false,
      message: /401 \(invalid_client: Client authentication failed\); check OFFICERND_CLIENT_ID/,
    },
    writesNothing: true,
    inject: (s) => {
      const wrong = `wrong-secret-${randomBytes(12).toString("hex")}`;
      s.extraSecrets.push(wrong);
      s.officeRnd = { ...s.officeRnd, clientSecret: wrong };
    },
    check: (r, _s, row) => {
      expect(r.api).toMatchObject({ tokenRequests: 1, requests: 0 });
      row.notes = "one token request, no retry loop on the token endpoint; secret not echoed";
    },
  },
  {
    name: "empty list for one resource",
    fault: "OfficeRnD lists no companies",
    expect: {
      status: "failed",
      code: "shrink_guard",
      retryable: false,
      message: /OfficeRnD listed no companies while Firestore has 40/,
    },
    inject: (s) => s.sandbox.data.companies.clear(),
    check: (r, _s, row) => {
      expect(r.resources.companies).toMatchObject({ guarded: true, removed: 0 });
      expect(r.resources.members.removed).toBe(2);
      row.notes = "no company marked removed; members and opportunities still repaired";
    },
  },
  {
    name: "list shrank by half",
    fault: "OfficeRnD lists every other member",
    expect: {
      status: "failed",
      code: "shrink_guard",
      retryable: false,
      message: /members: removal guard: this run would remove 80 of 160 members documents/,
    },
    inject: (s) => {
      const ids = s.sandbox.data.members.ids();
      s.sandbox.data.members.remove(...ids.filter((_id, i) => i % 2 === 1));
    },
    check: (r, _s, row) => {
      expect(r.resources.members).toMatchObject({ guarded: true, removed: 0 });
      row.notes = "80 removals held back; the guard trips above 20% of the documents by default";
    },
  },
];
