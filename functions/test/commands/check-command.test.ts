import { startSandbox, SANDBOX_SCOPES, type Sandbox } from "../../dev/sandbox";
import { loadOfficeRndConfig, type OfficeRndConfig } from "../../src/config";
import { checkOfficeRnd, formatCheck, type CheckReport } from "../../src/commands/check-command";
import { RESOURCE_NAMES } from "../../src/officernd/resources";
// A loopback port nothing listens on (it was free a moment ago).
import { freePort } from "../../dev/emulator";

/**
 * `check` against the local OfficeRnD sandbox: every verdict it can give, from what a real
 * server answers over HTTP. (test/cli/check.test.ts runs the same through the CLI process.)
 */

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await startSandbox({ tokenRequestsPerMinute: null, readsPerMinute: null });
});
afterEach(() => sandbox.close());

function config(overrides: Partial<OfficeRndConfig> = {}): OfficeRndConfig {
  return { ...loadOfficeRndConfig(sandbox.env()), ...overrides };
}

function step(report: CheckReport, name: string) {
  const found = report.steps.find((s) => s.step === name);
  if (!found) throw new Error(`no ${name} step`);
  return found;
}

const verdicts = (report: CheckReport) =>
  Object.fromEntries(report.steps.map((s) => [s.step, s.verdict]));

describe("check: everything reachable and granted", () => {
  it("passes every step, with latencies and the scopes granted", async () => {
    const report = await checkOfficeRnd(config());
    expect(report.ok).toBe(true);
    expect(verdicts(report)).toEqual({
      token: "ok",
      scopes: "ok",
      members: "ok",
      opportunities: "ok",
      companies: "ok",
      locations: "ok",
      events: "ok",
      bookings: "ok",
    });
    expect(report.scopes.missing).toEqual([]);
    expect(report.scopes.granted).toEqual(expect.arrayContaining(report.scopes.needed));
    expect(report.latency.tokenMs).toEqual(expect.any(Number));
    expect(report.latency.apiMeanMs).toEqual(expect.any(Number));
    expect(step(report, "members").message).toBe(
      "50 record(s) on the first page, more pages follow",
    );
    expect(step(report, "companies").message).toBe(
      `${sandbox.data.counts().companies} record(s) on the first page`,
    );
    // One token request, one page per resource: what a check costs.
    expect(sandbox.stats.tokenRequests).toBe(1);
    expect(sandbox.stats.reads).toBe(RESOURCE_NAMES.length);
    const text = formatCheck(report);
    expect(text).toMatch(/^OfficeRnD connectivity check: PASSED/);
    for (const name of RESOURCE_NAMES) expect(text).toMatch(new RegExp(`\\[pass\\] ${name}`));
  });
});

describe("check: failure verdicts", () => {
  it("wrong client secret: bad_credentials, nothing else tried", async () => {
    const report = await checkOfficeRnd(config({ clientSecret: "wrong-secret-for-this-test" }));
    expect(report.ok).toBe(false);
    expect(step(report, "token")).toMatchObject({ verdict: "bad_credentials", httpStatus: 401 });
    expect(step(report, "token").message).toContain("OFFICERND_CLIENT_SECRET");
    expect(verdicts(report)).toMatchObject({
      scopes: "skipped",
      members: "skipped",
      opportunities: "skipped",
      companies: "skipped",
    });
    expect(sandbox.stats.reads).toBe(0);
    expect(formatCheck(report)).toMatch(
      /^OfficeRnD connectivity check: FAILED \(bad_credentials\)/,
    );
  });

  it("a scope the application lacks: missing_scope, named; the other resources still read", async () => {
    sandbox.configure({
      grantedScopes: Object.values(SANDBOX_SCOPES).filter(
        (s) => s !== SANDBOX_SCOPES.opportunities,
      ),
    });
    const report = await checkOfficeRnd(config());
    expect(report.ok).toBe(false);
    expect(report.scopes.missing).toEqual([SANDBOX_SCOPES.opportunities]);
    expect(verdicts(report)).toEqual({
      token: "missing_scope",
      scopes: "missing_scope",
      members: "ok",
      opportunities: "missing_scope",
      companies: "ok",
      locations: "ok",
      events: "ok",
      bookings: "ok",
    });
    expect(step(report, "scopes").message).toContain(SANDBOX_SCOPES.opportunities);
    expect(step(report, "token").message).toMatch(/leave opportunities out of BACKUP_RESOURCES/);
    // The refusal names the scope: 1 refused, 1 for the rest, below OfficeRnD's ~5 a minute.
    expect(sandbox.stats.tokenRequests).toBe(2);
  });

  it("checks only the data types BACKUP_RESOURCES names", async () => {
    const report = await checkOfficeRnd(config(), { resources: ["members", "bookings"] });
    expect(verdicts(report)).toEqual({ token: "ok", scopes: "ok", members: "ok", bookings: "ok" });
  });

  it("wrong org slug: wrong_org_slug on every resource", async () => {
    const report = await checkOfficeRnd(config({ orgSlug: "not-our-org" }));
    expect(verdicts(report)).toEqual({
      token: "ok",
      scopes: "ok",
      members: "wrong_org_slug",
      opportunities: "wrong_org_slug",
      companies: "wrong_org_slug",
      locations: "wrong_org_slug",
      events: "wrong_org_slug",
      bookings: "wrong_org_slug",
    });
    // Live: a wrong org slug answers 500 "Organization not found" (docs/officernd-api.md).
    expect(step(report, "members")).toMatchObject({ httpStatus: 500 });
    expect(step(report, "members").message).toMatch(
      /Organization not found.*"not-our-org".*OFFICERND_ORG_SLUG/,
    );
  });

  it("throttled by the API: throttled, with Retry-After, and no retry", async () => {
    sandbox.setFault({ kind: "429", resource: "opportunities", retryAfter: 30 });
    const report = await checkOfficeRnd(config());
    expect(step(report, "opportunities")).toMatchObject({ verdict: "throttled", httpStatus: 429 });
    expect(step(report, "opportunities").message).toContain("Retry-After 30");
    expect(sandbox.stats.byResource.opportunities).toBe(1);
    expect(report.ok).toBe(false);
  });

  it("throttled at the token endpoint: throttled", async () => {
    sandbox.setFault({ kind: "token-429", retryAfter: 12 });
    const report = await checkOfficeRnd(config());
    expect(step(report, "token")).toMatchObject({ verdict: "throttled", httpStatus: 429 });
  });

  it("nothing listening: unreachable, for the token and for the API", async () => {
    const port = await freePort();
    const report = await checkOfficeRnd(
      config({ tokenUrl: `http://127.0.0.1:${port}/oauth/token` }),
    );
    expect(step(report, "token")).toMatchObject({ verdict: "unreachable", httpStatus: null });
    expect(step(report, "token").message).toBe(
      `could not connect to http://127.0.0.1:${port} (ECONNREFUSED)`,
    );
    const api = await checkOfficeRnd(config({ apiUrl: `http://127.0.0.1:${port}/api/v2` }));
    expect(verdicts(api)).toMatchObject({
      token: "ok",
      members: "unreachable",
      opportunities: "unreachable",
      companies: "unreachable",
    });
  });

  it("no answer in time: unreachable (timeout)", async () => {
    sandbox.setFault({ kind: "hang", resource: "members" });
    const report = await checkOfficeRnd(config(), { timeoutMs: 300 });
    expect(step(report, "members").verdict).toBe("unreachable");
    expect(step(report, "members").message).toContain("no answer from");
    expect(step(report, "companies").verdict).toBe("ok");
  });

  it("OfficeRnD failing or answering nonsense: server_error, invalid_response, invalid_records", async () => {
    sandbox.setFault({ kind: "5xx", resource: "members", status: 502 });
    sandbox.setFault({ kind: "html", resource: "opportunities" });
    sandbox.setFault({ kind: "bad-record", resource: "companies", count: 2 });
    const report = await checkOfficeRnd(config());
    expect(verdicts(report)).toMatchObject({
      members: "server_error",
      opportunities: "invalid_response",
      companies: "invalid_records",
    });
    expect(step(report, "companies").message).toMatch(/^2 of \d+ record\(s\) on the first page/);
  });

  it("a token URL that is not a token endpoint: wrong_url", async () => {
    const report = await checkOfficeRnd(config({ tokenUrl: `${sandbox.url}/oauth/nope` }));
    expect(step(report, "token")).toMatchObject({ verdict: "wrong_url", httpStatus: 404 });
    expect(step(report, "token").message).toContain("OFFICERND_TOKEN_URL");
  });

  it("never puts the secret or a token in the report", async () => {
    sandbox.configure({ grantedScopes: [SANDBOX_SCOPES.members] });
    const reports = [
      await checkOfficeRnd(config()),
      await checkOfficeRnd(config({ clientSecret: "another-wrong-secret-123" })),
      await checkOfficeRnd(config({ orgSlug: "elsewhere" })),
    ];
    const text = reports.map((r) => JSON.stringify(r) + formatCheck(r)).join("\n");
    expect(sandbox.issuedTokens().length).toBeGreaterThan(0);
    for (const secret of [
      sandbox.clientSecret,
      "another-wrong-secret-123",
      ...sandbox.issuedTokens(),
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});
