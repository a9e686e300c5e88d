import { DocumentReference, type Firestore } from "firebase-admin/firestore";
import {
  deliverWebhook,
  signWebhook,
  type DeliveryResponse,
  type SandboxWebhookEvent,
  type SignOptions,
} from "../../dev/sandbox";
import { METADATA_COLLECTION } from "../../src/mirror/collections";
import { listen, type RunningServer } from "../../src/http";
import { RESOURCES, RESOURCE_NAMES, type ResourceName } from "../../src/officernd/resources";
import { createProductApp } from "../../src/wiring";
import {
  WEBHOOK_EVENTS_COLLECTION,
  WEBHOOK_STATS_DOC,
  WEBHOOK_TOMBSTONES_COLLECTION,
  webhookStatsSchema,
  type WebhookStats,
} from "../../src/webhooks";
import { WEBHOOK_PATH } from "../../src/http/routes/webhook";
import { STATUS_TOKEN } from "../http/helpers";

/** The webhook secret the app under test is configured with (never to appear in a log line). */
export const WEBHOOK_SECRET = "whsec_9f2c7e1a4b6d8f0e3c5a7b9d1f3e5c7a";
export const OTHER_SECRET = "whsec_0000aaaa1111bbbb2222cccc3333dddd";

/** The configuration the product reads (environment variables named like the params). */
export function webhookEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    BACKUP_STATUS_TOKEN: STATUS_TOKEN,
    OFFICERND_WEBHOOK_SECRET: WEBHOOK_SECRET,
    ...extra,
  };
}

export interface WebhookServer {
  server: RunningServer;
  /** `${server.url}/v1/office-rnd/webhook` */
  url: string;
  /** Every response text (status, headers, body), for the secrets check. */
  texts: string[];
  /** Signs `payload` with `secret` (default: the configured one) and POSTs it. */
  deliver(
    payload: SandboxWebhookEvent | string | Buffer,
    options?: SignOptions & { secret?: string; headers?: Record<string, string> },
  ): Promise<Delivered>;
  /** POSTs bytes with exactly these headers (no signing). */
  post(body: string | Buffer, headers: Record<string, string>): Promise<Delivered>;
  close(): Promise<void>;
}

export interface Delivered extends DeliveryResponse {
  json: unknown;
}

function record(texts: string[], res: DeliveryResponse): Delivered {
  texts.push(`${res.status}\n${JSON.stringify([...res.headers])}\n${res.text}`);
  let json: unknown;
  try {
    json = JSON.parse(res.text);
  } catch {
    json = null;
  }
  return { ...res, json };
}

/** The product's app (createProductApp, as the `api` function builds it) on a real socket. */
export async function startWebhookServer(
  db: Firestore,
  options: { env?: Record<string, string>; now?: () => Date; rejectionFlushMs?: number } = {},
): Promise<WebhookServer> {
  const app = createProductApp({
    db,
    source: options.env ?? webhookEnv(),
    ...(options.now ? { now: options.now } : {}),
    // By default every refusal is counted at once, so the tests can assert exact counts.
    webhookRejectionFlushMs: options.rejectionFlushMs ?? 0,
  });
  const server = await listen(app);
  const url = `${server.url}${WEBHOOK_PATH}`;
  const texts: string[] = [];
  return {
    server,
    url,
    texts,
    async deliver(payload, deliverOptions = {}) {
      const { secret = WEBHOOK_SECRET, headers = {}, ...sign } = deliverOptions;
      return record(texts, await deliverWebhook(url, signWebhook(secret, payload, sign), headers));
    },
    async post(body, headers) {
      const res = await fetch(url, {
        method: "POST",
        headers,
        body: typeof body === "string" ? body : new Uint8Array(body),
      });
      return record(texts, { status: res.status, headers: res.headers, text: await res.text() });
    },
    close: () => server.close(),
  };
}

/** Document count of every collection the webhook may write (stats excluded). */
export async function writtenDocuments(db: Firestore): Promise<Record<string, number>> {
  const names = [
    ...RESOURCE_NAMES.map((r: ResourceName) => RESOURCES[r].collection),
    WEBHOOK_EVENTS_COLLECTION,
    WEBHOOK_TOMBSTONES_COLLECTION,
  ];
  const counts = await Promise.all(
    names.map(async (n) => (await db.collection(n).count().get()).data().count),
  );
  return Object.fromEntries(names.map((n, i) => [n, counts[i] ?? 0]));
}

export async function readStats(db: Firestore): Promise<WebhookStats | null> {
  const snap = await db.collection(METADATA_COLLECTION).doc(WEBHOOK_STATS_DOC).get();
  return snap.exists ? webhookStatsSchema.parse(snap.data()) : null;
}

export async function readDoc(
  db: Firestore,
  resource: ResourceName,
  id: string,
): Promise<{ data: Record<string, unknown>; updateTime: string } | null> {
  const snap = await db.collection(RESOURCES[resource].collection).doc(id).get();
  if (!snap.exists || !snap.updateTime) return null;
  return {
    data: snap.data() ?? {},
    updateTime: `${snap.updateTime.seconds}.${snap.updateTime.nanoseconds}`,
  };
}

/** Reads until `done` says so or `ms` have passed; returns the last value read. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

/** Counts set() calls on the webhook stats document (what a flood of refusals costs). */
export function countStatsWrites(): { writes: () => number; restore: () => void } {
  const spy = jest.spyOn(DocumentReference.prototype, "set");
  return {
    writes: () =>
      spy.mock.contexts.filter((ref) => (ref as DocumentReference).id === WEBHOOK_STATS_DOC).length,
    restore: () => spy.mockRestore(),
  };
}
