import { inspect } from "node:util";
import type { FaultSpec } from "../../dev/sandbox";
import { captureLogs, failure, harness, type Harness } from "./helpers";

/**
 * Tokens and the client secret never reach a log line or an error: every scenario below, good
 * and bad, is run with all log entries captured, then searched for every secret in play.
 */

const logs = captureLogs();
afterAll(() => logs.stop());

const secrets = new Set<string>();
const errors: Error[] = [];
let h: Harness;

afterEach(async () => {
  secrets.add(h.sandbox.clientSecret);
  for (const token of h.sandbox.issuedTokens()) secrets.add(token);
  await h.close();
});

const failing: [string, FaultSpec[]][] = [
  ["permanent 5xx", [{ kind: "5xx" }]],
  ["permanent 401", [{ kind: "401" }]],
  ["HTML page", [{ kind: "html" }]],
  ["truncated JSON", [{ kind: "truncated" }]],
  ["timeouts", [{ kind: "hang" }]],
  ["dropped connections", [{ kind: "reset" }]],
  ["bad request", [{ kind: "4xx", message: "bad filter" }]],
  ["token endpoint down", [{ kind: "token-5xx" }]],
  ["token endpoint HTML", [{ kind: "token-html" }]],
];

describe("secrets stay out of logs and errors", () => {
  it("in a run that succeeds through retries, expiry and 429s", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "5xx", times: 1 });
    h.sandbox.setFault({ kind: "429", retryAfter: 0, times: 1 });
    const client = h.client();
    await client.readAll("members");
    h.sandbox.expireTokens();
    await Promise.all([client.readAll("companies"), client.readAll("opportunities")]);
    expect(h.sandbox.issuedTokens()).toHaveLength(2);
  });

  it.each(failing)("when a read fails: %s", async (_name, faults) => {
    h = await harness();
    for (const fault of faults) h.sandbox.setFault(fault);
    errors.push(await failure(h.client({ timeoutMs: 100, maxAttempts: 2 }).readAll("members")));
  });

  it("with wrong credentials", async () => {
    h = await harness();
    errors.push(
      await failure(h.client({}, { clientSecret: "wrong-secret-value-123" }).readAll("members")),
    );
    secrets.add("wrong-secret-value-123");
  });

  it("none of them appears anywhere", () => {
    expect(secrets.size).toBeGreaterThan(failing.length);
    expect(errors).toHaveLength(failing.length + 1);
    expect(logs.entries.length).toBeGreaterThan(20);
    const haystacks = [
      ...logs.entries.map((entry) => JSON.stringify(entry)),
      ...errors.flatMap((error) => [
        error.message,
        String(error.stack),
        inspect(error, { depth: 8 }),
        JSON.stringify(error),
      ]),
    ];
    for (const secret of secrets) {
      for (const text of haystacks) expect(text).not.toContain(secret);
    }
    // The errors stand alone: no axios error (with its request config) chained as a cause.
    for (const error of errors) expect(error.cause).toBeUndefined();
  });
});
