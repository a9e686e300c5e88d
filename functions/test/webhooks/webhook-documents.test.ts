import { recordEvent, seedData, webhookEvent, type SandboxRecord } from "../../dev/sandbox";
import { WEBHOOK_EVENTS_COLLECTION, eventDocId, webhookEventDocSchema } from "../../src/webhooks";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { captureLogs } from "../http/helpers";
import { startWebhookServer, type WebhookServer } from "./helpers";

/**
 * Event ids become document ids of /officeRndWebhookEvents: ids Firestore reserves (`__.*__`)
 * must be hashed like any other unusable id, or every delivery of that event fails (503 after
 * ~7 s) and OfficeRnD redelivers it forever.
 */

const logs = captureLogs();
afterAll(() => logs.stop());

describe("eventDocId", () => {
  it("keeps plain ids (OfficeRnD's are 24 hex) and hashes reserved or unusable ones", () => {
    for (const plain of ["64b0c0ffee0000000000beef", "test-1", "_a_", "__", "a__b__"]) {
      expect(eventDocId(plain)).toBe(plain);
    }
    for (const reserved of ["__abc__", "____", "__.__", "__id__"]) {
      expect(eventDocId(reserved)).toMatch(/^~[A-Za-z0-9_-]{43}$/);
    }
    expect(eventDocId("__abc__")).not.toBe(eventDocId("__abd__"));
    expect(eventDocId("a/b")).toMatch(/^~/);
  });
});

describe("a delivery whose event id Firestore reserves", () => {
  let fs: TestFirestore;
  let hook: WebhookServer;
  beforeAll(async () => {
    fs = createTestFirestore("wh-evid");
    hook = await startWebhookServer(fs.db);
  });
  afterAll(async () => {
    await hook.close();
    await fs.close();
  });

  it.each([
    ["an ignored type", () => webhookEvent("ping.test", {}, { id: "__abc__" })],
    [
      "a member event",
      () => {
        const [member] = seedData({ members: 1, companies: 0, opportunities: 0, seed: 77 })
          .members as [SandboxRecord];
        return recordEvent("members", "created", member, { id: "__member__" });
      },
    ],
  ])("%s: answered 200 at once, then duplicate", async (_label, make) => {
    const event = make();
    const started = performance.now();
    const first = await hook.deliver(event);
    // Before: 503 not_stored after ~7 s (INVALID_ARGUMENT, retried), on every redelivery.
    expect(first.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(5_000);
    const again = await hook.deliver(event);
    expect(again.json).toMatchObject({ outcome: "duplicate", eventId: event.event });

    const marker = await fs.db
      .collection(WEBHOOK_EVENTS_COLLECTION)
      .doc(eventDocId(event.event))
      .get();
    expect(marker.id).toMatch(/^~/);
    expect(webhookEventDocSchema.parse(marker.data()).eventId).toBe(event.event);
  });
});
