import { z } from "zod";
import { startSandbox, SANDBOX_SCOPES, type Sandbox } from "../../dev/sandbox";
import { readBudgetSchema } from "../../src/officernd/rate-limit";
import { CHECK_VERDICTS } from "../../src/commands/check-command";
import { RESOURCE_NAMES } from "../../src/officernd/resources";
import { baseEnv, parseJsonOutput, runCli, type ProcessResult } from "./run-cli";
// A loopback port nothing listens on (it was free a moment ago).
import { freePort } from "../../dev/emulator";

/**
 * `officernd-backup check` in its own process against the local OfficeRnD sandbox: exit 0 only
 * when every step passes, one verdict per step naming the cause, `--json` that parses, and never
 * the secret or a token in anything it prints (stdout and stderr).
 */

const reportSchema = z.strictObject({
  ok: z.boolean(),
  checkedAt: z.iso.datetime(),
  target: z.strictObject({
    orgSlug: z.string(),
    clientId: z.string(),
    tokenUrl: z.string(),
    apiUrl: z.string(),
  }),
  steps: z.array(
    z.strictObject({
      step: z.enum(["token", "scopes", ...RESOURCE_NAMES]),
      ok: z.boolean(),
      verdict: z.enum(CHECK_VERDICTS),
      message: z.string().min(1),
      httpStatus: z.number().int().nullable(),
      latencyMs: z.number().int().min(0).nullable(),
    }),
  ),
  scopes: z.strictObject({
    needed: z.array(z.string()),
    granted: z.array(z.string()).nullable(),
    missing: z.array(z.string()),
  }),
  readBudget: readBudgetSchema.strict(),
  latency: z.strictObject({
    tokenMs: z.number().nullable(),
    apiMinMs: z.number().nullable(),
    apiMeanMs: z.number().nullable(),
    apiMaxMs: z.number().nullable(),
  }),
});
type Report = z.infer<typeof reportSchema>;

let sandbox: Sandbox;
const outputs: ProcessResult[] = [];
const secrets = new Set<string>();

beforeEach(async () => {
  sandbox = await startSandbox({ tokenRequestsPerMinute: null, readsPerMinute: null });
  secrets.add(sandbox.clientSecret);
});
afterEach(async () => {
  for (const token of sandbox.issuedTokens()) secrets.add(token);
  await sandbox.close();
});

async function check(
  overrides: Record<string, string> = {},
  json = true,
): Promise<{ result: ProcessResult; report: Report | null }> {
  const env = baseEnv({ ...sandbox.env(), GCLOUD_PROJECT: "demo-unused", ...overrides });
  const result = await runCli(json ? ["check", "--json"] : ["check"], env);
  outputs.push(result);
  return { result, report: json ? reportSchema.parse(parseJsonOutput(result)) : null };
}

const verdicts = (report: Report | null) =>
  Object.fromEntries((report?.steps ?? []).map((s) => [s.step, s.verdict]));

describe("officernd-backup check", () => {
  it("all good: exit 0, PASSED, a line per step", async () => {
    const { result } = await check({}, false);
    expect(result.code).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toBe("OfficeRnD connectivity check: PASSED");
    for (const step of ["token", "scopes", "members", "opportunities", "companies"]) {
      expect(result.stdout).toMatch(new RegExp(`^  \\[pass\\] ${step}\\s+ok\\s`, "m"));
    }
    expect(result.stdout).toMatch(/latency: token \d+ ms; API min \d+ ms, mean \d+ ms, max \d+ ms/);
    // What OfficeRnD's rate-limit headers said, and the scopes the token carries.
    expect(result.stdout).toMatch(
      /read budget: 6 read\(s\) used; \d+ of 1000000 a minute left \(resets .+\); \d+ of 20000 a day left/,
    );
    expect(result.stdout).toContain(`scopes granted: ${SANDBOX_SCOPES.members}`);
  });

  it("all good, --json: one object on stdout, ok true", async () => {
    const { result, report } = await check();
    expect(result.code).toBe(0);
    expect(report?.ok).toBe(true);
    expect(report?.scopes.missing).toEqual([]);
    expect(report?.readBudget).toMatchObject({
      used: 6,
      day: { limit: 20_000, remaining: 19_994 },
    });
    expect(report?.target).toEqual({
      orgSlug: sandbox.orgSlug,
      clientId: sandbox.clientId,
      tokenUrl: sandbox.tokenUrl,
      apiUrl: sandbox.apiUrl,
    });
  });

  it("wrong secret: exit 1, bad_credentials", async () => {
    secrets.add("definitely-not-the-secret-42");
    const { result, report } = await check({
      OFFICERND_CLIENT_SECRET: "definitely-not-the-secret-42",
    });
    expect(result.code).toBe(1);
    expect(verdicts(report)).toEqual({
      token: "bad_credentials",
      scopes: "skipped",
      members: "skipped",
      opportunities: "skipped",
      companies: "skipped",
      locations: "skipped",
      events: "skipped",
      bookings: "skipped",
    });
    const text = await check({ OFFICERND_CLIENT_SECRET: "definitely-not-the-secret-42" }, false);
    expect(text.result.stdout).toMatch(/^OfficeRnD connectivity check: FAILED \(bad_credentials\)/);
    expect(text.result.stdout).toMatch(
      /\[FAIL\] token\s+bad_credentials\s+\d+ ms\s+401 \(invalid_client/,
    );
  });

  it("a missing scope (the sandbox grants fewer): exit 1, missing_scope naming it", async () => {
    sandbox.configure({
      grantedScopes: Object.values(SANDBOX_SCOPES).filter((s) => s !== SANDBOX_SCOPES.companies),
    });
    const { result, report } = await check();
    expect(result.code).toBe(1);
    expect(report?.scopes.missing).toEqual([SANDBOX_SCOPES.companies]);
    expect(verdicts(report)).toMatchObject({
      token: "missing_scope",
      scopes: "missing_scope",
      members: "ok",
      opportunities: "ok",
      companies: "missing_scope",
      bookings: "ok",
    });
    // Left out of BACKUP_RESOURCES, companies are not checked at all.
    const without = await check({ BACKUP_RESOURCES: "members,opportunities" });
    expect(without.result.code).toBe(0);
  });

  it("wrong org slug: exit 1, wrong_org_slug", async () => {
    const { result, report } = await check({ OFFICERND_ORG_SLUG: "someone-else" });
    expect(result.code).toBe(1);
    expect(verdicts(report)).toMatchObject({
      token: "ok",
      members: "wrong_org_slug",
      opportunities: "wrong_org_slug",
      companies: "wrong_org_slug",
    });
  });

  it("throttled: exit 1, throttled", async () => {
    sandbox.setFault({ kind: "429", retryAfter: 20 });
    const { result, report } = await check();
    expect(result.code).toBe(1);
    expect(verdicts(report)).toMatchObject({
      token: "ok",
      members: "throttled",
      opportunities: "throttled",
      companies: "throttled",
    });
    sandbox.clearFaults();
    sandbox.setFault({ kind: "token-429", retryAfter: 20 });
    expect(verdicts((await check()).report).token).toBe("throttled");
  });

  it("unreachable (nothing on the port): exit 1, unreachable", async () => {
    const port = await freePort();
    const { result, report } = await check({
      OFFICERND_TOKEN_URL: `http://127.0.0.1:${port}/oauth/token`,
      OFFICERND_API_URL: `http://127.0.0.1:${port}/api/v2`,
    });
    expect(result.code).toBe(1);
    expect(report?.steps[0]).toMatchObject({
      step: "token",
      verdict: "unreachable",
      message: `could not connect to http://127.0.0.1:${port} (ECONNREFUSED)`,
    });
  });

  it("printed neither the client secret nor a token, in any case above (stdout and stderr)", () => {
    expect(outputs.length).toBeGreaterThanOrEqual(9);
    expect(secrets.size).toBeGreaterThan(2);
    for (const { stdout, stderr } of outputs) {
      for (const secret of secrets) {
        expect(stdout).not.toContain(secret);
        expect(stderr).not.toContain(secret);
      }
    }
  });
});
