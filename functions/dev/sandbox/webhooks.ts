import { createHmac, randomBytes } from "node:crypto";
import type { JsonValue, SandboxResource } from "./seed";

/**
 * OfficeRnD's side of a webhook delivery, for tests and local use: event bodies in OfficeRnD's
 * format and the `officernd-signature` header, computed here independently of the product's
 * verifier (developer.officernd.com/docs/webhooks-getting-started):
 *   officernd-signature: t=<unix seconds>,signature=<hex HMAC-SHA256(secret, body + "." + t)>
 * The signature covers the exact bytes sent, so a test can send any serialization it likes.
 */

export const WEBHOOK_SIGNATURE_HEADER = "officernd-signature";

export type WebhookAction = "created" | "updated" | "removed";

/** Event type prefix per sandbox resource (`member.updated`, `company.removed`, …). */
export const WEBHOOK_EVENT_PREFIX: Record<SandboxResource, string> = {
  members: "member",
  companies: "company",
  opportunities: "opportunity",
  locations: "location",
  events: "event",
  bookings: "booking",
};

export interface SandboxWebhookEvent {
  event: string;
  eventType: string;
  data: { object: JsonValue; previousAttributes?: JsonValue };
  createdAt: string;
}

/** A random 24-hex id, like OfficeRnD's. */
export function newEventId(): string {
  return randomBytes(12).toString("hex");
}

export interface EventOptions {
  /** Default: a new random id. */
  id?: string;
  /** Default: now. */
  createdAt?: Date | string;
  previousAttributes?: JsonValue;
}

/** `{event, eventType, data: {object, previousAttributes?}, createdAt}`. */
export function webhookEvent(
  eventType: string,
  object: JsonValue,
  options: EventOptions = {},
): SandboxWebhookEvent {
  const createdAt = options.createdAt ?? new Date();
  return {
    event: options.id ?? newEventId(),
    eventType,
    data: {
      object,
      ...(options.previousAttributes !== undefined
        ? { previousAttributes: options.previousAttributes }
        : {}),
    },
    createdAt: typeof createdAt === "string" ? createdAt : createdAt.toISOString(),
  };
}

/** The event OfficeRnD sends when a sandbox record is created, updated or removed. */
export function recordEvent(
  resource: SandboxResource,
  action: WebhookAction,
  record: JsonValue,
  options: EventOptions = {},
): SandboxWebhookEvent {
  return webhookEvent(`${WEBHOOK_EVENT_PREFIX[resource]}.${action}`, record, options);
}

/** hex HMAC-SHA256(secret, body + "." + timestamp). */
export function webhookSignature(
  secret: string,
  body: string | Buffer,
  timestamp: number | string,
): string {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  const signed = Buffer.concat([bytes, Buffer.from(`.${timestamp}`, "utf8")]);
  return createHmac("sha256", Buffer.from(secret, "utf8")).update(signed).digest("hex");
}

/** The header value: `t=<timestamp>,signature=<hex>`. */
export function webhookSignatureHeader(
  secret: string,
  body: string | Buffer,
  timestamp: number | string,
): string {
  return `t=${timestamp},signature=${webhookSignature(secret, body, timestamp)}`;
}

export interface SignedWebhook {
  /** The exact bytes to send. */
  body: Buffer;
  timestamp: number;
  headers: Record<string, string>;
}

export interface SignOptions {
  /** Unix seconds in the header. Default: from `now`. */
  timestamp?: number;
  /** Default: the current time. */
  now?: Date;
}

/**
 * Signs a delivery. An object is sent as `JSON.stringify(payload)`; a string or Buffer is sent
 * byte for byte as given (whitespace, key order, escapes: whatever the test wants).
 */
export function signWebhook(
  secret: string,
  payload: SandboxWebhookEvent | string | Buffer,
  options: SignOptions = {},
): SignedWebhook {
  const body =
    typeof payload === "string"
      ? Buffer.from(payload, "utf8")
      : Buffer.isBuffer(payload)
        ? payload
        : Buffer.from(JSON.stringify(payload), "utf8");
  const timestamp = options.timestamp ?? Math.floor((options.now ?? new Date()).getTime() / 1000);
  return {
    body,
    timestamp,
    headers: {
      "Content-Type": "application/json",
      [WEBHOOK_SIGNATURE_HEADER]: webhookSignatureHeader(secret, body, timestamp),
    },
  };
}

export interface DeliveryResponse {
  status: number;
  headers: Headers;
  /** The response body as text. */
  text: string;
}

/** POSTs a signed delivery to `url` (the webhook route) as OfficeRnD would. */
export async function deliverWebhook(
  url: string,
  delivery: SignedWebhook,
  extraHeaders: Record<string, string> = {},
): Promise<DeliveryResponse> {
  const res = await fetch(url, {
    method: "POST",
    headers: { ...delivery.headers, ...extraHeaders },
    body: new Uint8Array(delivery.body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}
