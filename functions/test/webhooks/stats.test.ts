import { backupStatusResponseSchema } from "../../src/status";
import { countRejection, readWebhookStats } from "../../src/webhooks/stats";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { STATUS_TOKEN, captureLogs } from "../http/helpers";
import { countStatsWrites, eventually, startWebhookServer, type WebhookServer } from "./helpers";

/**
 * Refused deliveries are counted in at most one write per interval per instance, and what a
 * flood leaves pending is written by a trailing timer, not by the next refusal: the status shows
 * the flood while it lasts. Against the Firestore emulator; over HTTP with the production interval
 * (2 s), and directly with intervals of 4 s and 1 s.
 */

const logs = captureLogs();
afterAll(() => logs.stop());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("countRejection", () => {
  let fs: TestFirestore;
  beforeEach(() => {
    fs = createTestFirestore("wh-stats");
  });
  afterEach(() => fs.close());

  it("300 refusals in a burst: two writes (at once, then trailing), all 300 counted", async () => {
    // Longer than the production 2 s: the burst must fit in one interval, and on a loaded CI
    // machine the first write alone has taken 2.7 s (the logic is the same at any interval).
    const interval = 4_000;
    const spy = countStatsWrites();
    try {
      // The client connects first: the first write is then one write, not a connection too.
      await readWebhookStats(fs.db);
      const at = new Date();
      const started = Date.now();
      await countRejection(fs.db, { reason: "missing_signature", at }, interval);
      for (let i = 0; i < 299; i++) {
        await countRejection(fs.db, { reason: "bad_signature", at }, interval);
      }
      expect(Date.now() - started).toBeLessThan(interval);
      // The first refusal written at once, the other 299 pending (checked with no I/O between).
      expect(spy.writes()).toBe(1);
      // No further refusal arrives: the trailing write lands once the interval has passed.
      // Before: it waited for the next refusal, so the status said 1 while 300 were refused.
      const stats = await eventually(
        () => readWebhookStats(fs.db),
        (s) => s?.rejected === 300,
        interval + 4_000,
      );
      expect(stats?.rejected).toBe(300);
      expect(stats?.rejectedByReason).toEqual({ missing_signature: 1, bad_signature: 299 });
      expect(Date.now() - started).toBeLessThan(interval + 3_000);
      expect(spy.writes()).toBe(2);
      // And nothing more without new refusals.
      await sleep(interval + 200);
      expect(spy.writes()).toBe(2);
    } finally {
      spy.restore();
    }
  });

  it("a steady trickle: at most one write per interval, none lost", async () => {
    const spy = countStatsWrites();
    try {
      const at = new Date();
      const started = Date.now();
      let sent = 0;
      while (Date.now() - started < 4_500) {
        await countRejection(fs.db, { reason: "bad_signature", at }, 1_000);
        sent += 1;
        await sleep(50);
      }
      const stats = await eventually(
        () => readWebhookStats(fs.db),
        (s) => s?.rejected === sent,
        8_000,
      );
      expect(stats?.rejected).toBe(sent);
      // One write a second at most: their starts are a second apart or more, so over the whole
      // span (4.5 s of refusals, longer when a loaded machine slows the writes, then the
      // trailing one) at most one more than its whole seconds.
      const span = Date.now() - started;
      expect(spy.writes()).toBeLessThanOrEqual(Math.floor(span / 1_000) + 1);
      // And they were written while the trickle lasted, not all at its end.
      expect(spy.writes()).toBeGreaterThanOrEqual(3);
    } finally {
      spy.restore();
    }
  });
});

describe("over HTTP: the status shows a flood while it lasts", () => {
  let fs: TestFirestore;
  let hook: WebhookServer;
  beforeAll(async () => {
    fs = createTestFirestore("wh-flood");
    // The production interval (2 s), not the tests' 0.
    hook = await startWebhookServer(fs.db, { rejectionFlushMs: 2_000 });
  });
  afterAll(async () => {
    await hook.close();
    await fs.close();
  });

  it("300 unsigned POSTs: webhooks.rejected reaches 300 within ~2 s of the last", async () => {
    for (let i = 0; i < 300; i++) {
      const res = await hook.post("{}", { "Content-Type": "application/json" });
      expect(res.status).toBe(401);
    }
    const finished = Date.now();
    const rejected = async () => {
      const res = await fetch(`${hook.server.url}/v1/office-rnd/backup-status`, {
        headers: { Authorization: `Bearer ${STATUS_TOKEN}` },
      });
      return backupStatusResponseSchema.parse(await res.json()).webhooks.rejected;
    };
    // The 2 s interval, then one emulator write (seconds on a loaded CI machine).
    expect(await eventually(rejected, (n) => n === 300, 8_000)).toBe(300);
    expect(Date.now() - finished).toBeLessThan(6_000);
  });
});
