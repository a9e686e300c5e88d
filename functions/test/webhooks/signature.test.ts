import {
  recordEvent,
  seedData,
  signWebhook,
  webhookSignature,
  webhookSignatureHeader,
} from "../../dev/sandbox";
import { parseSignatureHeader, verifySignature } from "../../src/webhooks";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { captureLogs } from "../http/helpers";
import {
  OTHER_SECRET,
  WEBHOOK_SECRET,
  readStats,
  startWebhookServer,
  webhookEnv,
  writtenDocuments,
  type WebhookServer,
} from "./helpers";
import { countRejection, readWebhookStats } from "../../src/webhooks/stats";

const NOW = new Date("2026-11-20T10:00:00.000Z");
const NOW_S = Math.floor(NOW.getTime() / 1000);
const record = seedData({ members: 1, companies: 0, opportunities: 0, seed: 99 }).members[0]!;
const event = recordEvent("members", "created", record, { createdAt: NOW });
const body = JSON.stringify(event);

describe("verifySignature (unit)", () => {
  const check = (header: string | undefined, overrides: { body?: string; now?: Date } = {}) =>
    verifySignature({
      header,
      body: Buffer.from(overrides.body ?? body, "utf8"),
      secret: WEBHOOK_SECRET,
      toleranceSeconds: 300,
      now: overrides.now ?? NOW,
    });
  const good = webhookSignatureHeader(WEBHOOK_SECRET, body, NOW_S);
  const sig = webhookSignature(WEBHOOK_SECRET, body, NOW_S);

  it("accepts the sandbox signer's header, with spaces, upper-case hex or extra keys", () => {
    expect(check(good)).toEqual({ ok: true, timestamp: NOW_S });
    expect(check(`t=${NOW_S}, signature=${sig.toUpperCase()}`).ok).toBe(true);
    expect(check(` signature=${sig} , t=${NOW_S} ,v0=ignored`).ok).toBe(true);
    // Several signatures (a secret being rotated): any may match.
    const other = webhookSignature(OTHER_SECRET, body, NOW_S);
    expect(check(`t=${NOW_S},signature=${other},signature=${sig}`).ok).toBe(true);
  });

  it("says why it refuses", () => {
    expect(check(undefined)).toEqual({ ok: false, reason: "missing_signature" });
    expect(check("  ")).toEqual({ ok: false, reason: "missing_signature" });
    for (const malformed of [
      "garbage",
      `t=${NOW_S}`,
      `signature=${sig}`,
      `t=abc,signature=${sig}`,
      `t=-5,signature=${sig}`,
      `t=${NOW_S},t=${NOW_S},signature=${sig}`,
      `t=${NOW_S},signature=${sig.slice(2)}`,
      `t=${NOW_S},signature=${sig.replace(/^../, "zz")}`,
      `t=${NOW_S},signature=`,
      `t=${NOW_S},signature=${sig},x`,
      `t=${NOW_S},signature=${sig}${",signature=" + sig}`.repeat(3),
      `t=${NOW_S},signature=${sig},pad=${"x".repeat(2000)}`,
    ]) {
      expect([malformed.slice(0, 40), check(malformed)]).toEqual([
        malformed.slice(0, 40),
        { ok: false, reason: "malformed_signature" },
      ]);
    }
    expect(check(webhookSignatureHeader(OTHER_SECRET, body, NOW_S))).toEqual({
      ok: false,
      reason: "bad_signature",
    });
    expect(check(good, { body: `${body} ` })).toEqual({ ok: false, reason: "bad_signature" });
    // The signature of this body at another time, presented with this time.
    const replayed = webhookSignature(WEBHOOK_SECRET, body, NOW_S - 1);
    expect(check(`t=${NOW_S},signature=${replayed}`).ok).toBe(false);
    expect(check(good, { now: new Date(NOW.getTime() + 301_000) })).toEqual({
      ok: false,
      reason: "stale_timestamp",
      signedAt: NOW_S,
      skewSeconds: 301,
    });
    expect(check(good, { now: new Date(NOW.getTime() - 301_000) })).toEqual({
      ok: false,
      reason: "stale_timestamp",
      signedAt: NOW_S,
      skewSeconds: -301,
    });
    expect(check(good, { now: new Date(NOW.getTime() + 300_000) }).ok).toBe(true);
  });

  it("binds t as sent (leading zeros are part of the signed text)", () => {
    const padded = `0${NOW_S}`;
    expect(parseSignatureHeader(`t=${padded},signature=${sig}`)?.timestampText).toBe(padded);
    expect(check(`t=${padded},signature=${sig}`).ok).toBe(false);
    expect(check(webhookSignatureHeader(WEBHOOK_SECRET, body, padded)).ok).toBe(true);
  });
});

describe("rejected deliveries over HTTP: 401, nothing written, no secret anywhere", () => {
  const logs = captureLogs();
  let fs: TestFirestore;
  let hook: WebhookServer;
  /** Every signature these tests computed, the expected ones included. */
  const signatures: string[] = [];

  beforeAll(async () => {
    fs = createTestFirestore("webhook-sig");
    hook = await startWebhookServer(fs.db, {
      env: webhookEnv({ OFFICERND_WEBHOOK_TOLERANCE_SECONDS: "120" }),
      now: () => NOW,
    });
  });
  afterAll(async () => {
    const everything = [...hook.texts, ...logs.entries.map((e) => JSON.stringify(e))];
    expect(everything.length).toBeGreaterThan(10);
    for (const text of everything) {
      expect(text.includes(WEBHOOK_SECRET)).toBe(false);
      expect(text.includes(OTHER_SECRET)).toBe(false);
      for (const s of signatures) expect(text.toLowerCase().includes(s)).toBe(false);
    }
    logs.stop();
    await hook.close();
    await fs.close();
  });

  const post = async (headers: Record<string, string>, bytes: string = body) => {
    const res = await hook.post(bytes, { "Content-Type": "application/json", ...headers });
    return { status: res.status, json: res.json };
  };
  const header = (secret: string, t: number, signed: string = body) => {
    const value = webhookSignatureHeader(secret, signed, t);
    signatures.push(webhookSignature(secret, signed, t));
    signatures.push(webhookSignature(WEBHOOK_SECRET, signed, t));
    signatures.push(webhookSignature(WEBHOOK_SECRET, body, t));
    return { "officernd-signature": value };
  };
  const unauthorized = (message: string) => ({
    status: 401,
    json: { error: { code: "unauthorized", message } },
  });

  it("refuses missing, malformed, bad and stale signatures", async () => {
    expect(await post({})).toEqual(unauthorized("missing officernd-signature header"));
    const malformed =
      "malformed officernd-signature header: expected t=<unix seconds>,signature=<hex>";
    expect(await post({ "officernd-signature": "sha256=abc" })).toEqual(unauthorized(malformed));
    expect(await post({ "officernd-signature": `t=${NOW_S}` })).toEqual(unauthorized(malformed));
    const mismatch = "the signature does not match the body";
    expect(await post(header(OTHER_SECRET, NOW_S))).toEqual(unauthorized(mismatch));
    // Signed, then one byte changed.
    expect(await post(header(WEBHOOK_SECRET, NOW_S), body.replace("created", "updated"))).toEqual(
      unauthorized(mismatch),
    );
    // A stolen header on another body.
    const stolen = header(WEBHOOK_SECRET, NOW_S);
    expect(await post(stolen, JSON.stringify({ ...event, event: "forged" }))).toEqual(
      unauthorized(mismatch),
    );
    const stale = "the signature's timestamp is outside the accepted window";
    expect(await post(header(WEBHOOK_SECRET, NOW_S - 121))).toEqual(unauthorized(stale));
    expect(await post(header(WEBHOOK_SECRET, NOW_S + 121))).toEqual(unauthorized(stale));

    expect(Object.values(await writtenDocuments(fs.db)).every((n) => n === 0)).toBe(true);
    const stats = await readStats(fs.db);
    expect(stats).toMatchObject({
      rejected: 8,
      rejectedByReason: {
        missing_signature: 1,
        malformed_signature: 2,
        bad_signature: 3,
        stale_timestamp: 2,
      },
      received: 0,
      lastReceivedAt: null,
    });
    expect(stats?.lastRejectedAt?.toDate()).toEqual(NOW);

    const rejected = logs.entries.filter((e) => e.event === "webhook_rejected");
    expect(rejected.map((e) => e.reason)).toEqual([
      "missing_signature",
      "malformed_signature",
      "malformed_signature",
      "bad_signature",
      "bad_signature",
      "bad_signature",
      "stale_timestamp",
      "stale_timestamp",
    ]);
    expect(rejected.every((e) => e.severity === "WARNING" && e.status === 401)).toBe(true);
    expect(
      rejected.filter((e) => e.reason === "stale_timestamp").map((e) => e.skewSeconds),
    ).toEqual([121, -121]);
  });

  it("accepts the same body once it is signed right, inside the window", async () => {
    const res = await post(header(WEBHOOK_SECRET, NOW_S - 119));
    expect(res).toEqual({
      status: 200,
      json: {
        received: true,
        eventId: event.event,
        eventType: "member.created",
        outcome: "applied",
      },
    });
    // The signer's own helper gives the same bytes and header.
    const signed = signWebhook(WEBHOOK_SECRET, event, { now: NOW });
    expect(signed.body.toString("utf8")).toBe(body);
    signatures.push(webhookSignature(WEBHOOK_SECRET, signed.body, signed.timestamp));
  });
});

describe("counting refused deliveries under a flood", () => {
  it("writes at most one stats update per interval, carrying every refusal", async () => {
    const fs = createTestFirestore("rejflood");
    try {
      const at = new Date("2026-11-25T10:00:00Z");
      // First refusal after a quiet period: written at once.
      await countRejection(fs.db, { reason: "missing_signature", at }, 60_000);
      expect((await readWebhookStats(fs.db))?.rejected).toBe(1);
      // A flood inside the interval: no further writes…
      for (let i = 0; i < 20; i++) {
        await countRejection(fs.db, { reason: "bad_signature", at }, 60_000);
      }
      expect((await readWebhookStats(fs.db))?.rejected).toBe(1);
      // …until the interval has passed: then one write carries all of them.
      await countRejection(fs.db, { reason: "bad_signature", at }, 0);
      const stats = await readWebhookStats(fs.db);
      expect(stats?.rejected).toBe(22);
      expect(stats?.rejectedByReason).toMatchObject({ missing_signature: 1, bad_signature: 21 });
    } finally {
      await fs.close();
    }
  });
});
