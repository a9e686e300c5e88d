import { RESOURCE_NAMES, RESOURCES } from "../../src/officernd/resources";
import { OfficeRndError } from "../../src/officernd/types";
import { captureLogs, failure, harness, sleep, type Harness } from "./helpers";

let h: Harness;
const logs = captureLogs();
afterAll(() => logs.stop());
afterEach(async () => h?.close());

const readEverything = (client: ReturnType<Harness["client"]>) =>
  Promise.all([
    client.readAll("members"),
    client.readAll("companies"),
    client.readAll("opportunities"),
  ]);

describe("access token", () => {
  it("asks for the narrowest read scopes once and shares one request between concurrent callers", async () => {
    h = await harness({ latencyMs: 50 });
    const client = h.client();
    await readEverything(client);
    await client.readAll("members");
    expect(h.sandbox.stats.tokenRequests).toBe(1);
    expect(client.stats().tokenRequests).toBe(1);
    const fetched = logs.entries.filter((e) => e.event === "officernd_token_fetched");
    expect(fetched.at(-1)?.scope).toBe(
      "flex.community.members.read flex.community.opportunities.read flex.community.companies.read " +
        "flex.space.locations.read flex.collaboration.events.read flex.space.bookings.read",
    );
  });

  it("renews an expired token mid-run after one 401 and goes on", async () => {
    h = await harness({ seed: { members: 300 } });
    const client = h.client({ prefetch: false });
    let records = 0;
    for await (const page of client.pages("members")) {
      records += page.records.length;
      if (page.page === 2) h.sandbox.expireTokens();
    }
    expect(records).toBe(300);
    expect(h.sandbox.stats.tokensIssued).toBe(2);
    expect(h.sandbox.stats.byStatus["401"]).toBe(1);
    expect(client.stats().retries).toBe(1);
    expect(logs.entries.some((e) => e.event === "officernd_token_invalidated")).toBe(true);
  });

  it("recovers from a single 401 for all three resources read side by side with one new token", async () => {
    h = await harness({ latencyMs: 10 });
    const client = h.client();
    await client.readAll("companies");
    h.sandbox.revokeTokens();
    await readEverything(client);
    expect(h.sandbox.stats.tokensIssued).toBe(2);
  });

  it("renews the token before it expires instead of waiting for a 401", async () => {
    h = await harness({ tokenTtlSeconds: 1 });
    const client = h.client();
    await client.readAll("companies");
    await sleep(1_000);
    await client.readAll("companies");
    expect(h.sandbox.stats.tokensIssued).toBe(2);
    expect(h.sandbox.stats.byStatus["401"]).toBeUndefined();
  });

  it("a 401 that survives one renewal fails with code auth, without looping on the token endpoint", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "401" });
    const client = h.client();
    const errors = await Promise.all(
      (["members", "companies", "opportunities"] as const).map((r) => failure(client.readAll(r))),
    );
    for (const error of errors) {
      expect(error).toMatchObject({ code: "auth", status: 401 });
      expect(error.message).toMatch(/401 .*again after renewing the access token/);
    }
    // One token, one shared renewal.
    expect(h.sandbox.stats.tokenRequests).toBe(2);
  });

  it("wrong credentials give a clear auth error at once", async () => {
    h = await harness();
    const client = h.client({}, { clientSecret: "definitely-wrong-secret" });
    const error = await failure(client.readAll("members"));
    expect(error).toBeInstanceOf(OfficeRndError);
    expect(error).toMatchObject({ code: "auth", status: 401 });
    expect((error as OfficeRndError).retryable).toBe(false);
    expect(error.message).toBe(
      "OfficeRnD token request failed: 401 (invalid_client: Client authentication failed); " +
        "check OFFICERND_CLIENT_ID and OFFICERND_CLIENT_SECRET",
    );
    expect(h.sandbox.stats.tokenRequests).toBe(1);
    expect(h.sandbox.stats.reads).toBe(0);
  });

  it("an ungranted scope is an auth error naming it, its data type and both fixes", async () => {
    h = await harness({
      grantedScopes: RESOURCE_NAMES.filter((n) => n !== "bookings").map((n) => RESOURCES[n].scope),
    });
    const error = await failure(h.client().readAll("members"));
    expect(error).toMatchObject({ code: "auth", status: 400 });
    expect(error.message).toMatch(
      /invalid_scope.*is not granted: flex\.space\.bookings\.read \(bookings\); grant it in OfficeRnD, or leave bookings out of BACKUP_RESOURCES/,
    );
    expect(h.sandbox.stats.tokenRequests).toBe(1);
  });

  it("retries a token endpoint 5xx a bounded number of times", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "token-5xx", times: 2 });
    const client = h.client();
    await expect(client.readAll("companies")).resolves.toMatchObject({ pages: 1 });
    expect(h.sandbox.stats.tokenRequests).toBe(3);

    await h.close();
    h = await harness();
    h.sandbox.setFault({ kind: "token-5xx" });
    const error = await failure(h.client().readAll("companies"));
    expect(error).toMatchObject({ code: "server", status: 503 });
    expect(error.message).toMatch(
      /^OfficeRnD token request failed: 503 .*gave up after 3 attempts/,
    );
    expect(h.sandbox.stats.tokenRequests).toBe(3);
  });

  it("waits for Retry-After when the token endpoint answers 429", async () => {
    h = await harness();
    h.sandbox.setFault({ kind: "token-429", retryAfter: 1, times: 1 });
    const started = Date.now();
    await h.client().readAll("companies");
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(h.sandbox.stats.tokenRequests).toBe(2);
  });

  it("keeps under the token endpoint's 5 calls a minute on its own", async () => {
    h = await harness({ tokenRequestsPerMinute: null });
    const client = h.client({ tokenRequestsPerMinute: 2 });
    await client.readAll("companies");
    h.sandbox.revokeTokens();
    await client.readAll("companies");
    h.sandbox.revokeTokens();
    const error = await failure(client.readAll("companies"));
    expect(error).toMatchObject({ code: "throttled" });
    expect(error.message).toMatch(/not calling the token endpoint again/);
    expect(h.sandbox.stats.tokenRequests).toBe(2);
  });
});
