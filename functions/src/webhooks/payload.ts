import { z } from "zod";
import { RESOURCES, type ResourceName } from "../officernd/resources";
import { officeRndId, type OfficeRndRecord } from "../officernd/schemas";

/**
 * What a delivery says, validated: the envelope `{event, eventType, data: {object,
 * previousAttributes?}, createdAt}` (developer.officernd.com/docs/webhooks-getting-started), and
 * for the event types the mirror follows, the record, checked with the same schema the backup's
 * client uses, so both paths accept exactly the same records.
 */

const isoTime = z
  .string()
  .min(1)
  .max(64)
  .refine((s) => !Number.isNaN(Date.parse(s)), "must be an ISO 8601 time");

/** Loose, like OfficeRnD's records: a field OfficeRnD adds later does not fail a delivery. */
export const webhookEnvelopeSchema = z.looseObject({
  event: z.string().min(1).max(512),
  eventType: z.string().min(1).max(200),
  data: z.looseObject({
    object: z.unknown().optional(),
    previousAttributes: z.unknown().optional(),
  }),
  createdAt: isoTime,
});
export type WebhookEnvelope = z.infer<typeof webhookEnvelopeSchema>;

/**
 * Event type prefix → mirrored resource. OfficeRnD documents no opportunity events; should it send
 * them, they are expected to follow the same naming (`opportunity.updated`).
 */
const RESOURCE_BY_PREFIX: Readonly<Record<string, ResourceName>> = {
  member: "members",
  company: "companies",
  opportunity: "opportunities",
};

const ACTIONS = ["created", "updated", "removed"] as const;
type Action = (typeof ACTIONS)[number];

/** The removed record: its id and, when sent, its last `modifiedAt`. */
const removedObjectSchema = z.looseObject({
  _id: officeRndId,
  modifiedAt: z.string().nullish(),
});

export type WebhookChange =
  /** `*.created` / `*.updated`: the record as OfficeRnD sent it. */
  | { kind: "upsert"; resource: ResourceName; action: Action; record: OfficeRndRecord }
  | { kind: "remove"; resource: ResourceName; id: string; modifiedAt: string | null }
  /** A type the mirror does not follow. */
  | { kind: "ignored" };

export class WebhookPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookPayloadError";
  }
}

/** `path: message` of the first few issues (never the values). */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix: readonly string[] = [],
): string {
  return issues
    .slice(0, 3)
    .map((i) => {
      const path = [...prefix, ...i.path.map(String)];
      return `${path.length > 0 ? path.join(".") : "body"}: ${i.message}`;
    })
    .join("; ");
}

/** Parses the body text as the envelope; throws WebhookPayloadError. */
export function parseEnvelope(text: string): WebhookEnvelope {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new WebhookPayloadError("the body is not JSON");
  }
  const result = webhookEnvelopeSchema.safeParse(json);
  if (!result.success) throw new WebhookPayloadError(describeIssues(result.error.issues));
  return result.data;
}

/** The mirrored resource and action of an event type, or null when the mirror ignores it. */
export function classifyEventType(
  eventType: string,
): { resource: ResourceName; action: Action } | null {
  const match = /^([a-z]+)\.([a-z]+)$/.exec(eventType);
  if (!match) return null;
  const resource = RESOURCE_BY_PREFIX[match[1] ?? ""];
  const action = ACTIONS.find((a) => a === match[2]);
  return resource && action ? { resource, action } : null;
}

/** What the event changes in the mirror; throws WebhookPayloadError for an invalid record. */
export function interpretEvent(envelope: WebhookEnvelope): WebhookChange {
  const type = classifyEventType(envelope.eventType);
  if (type === null) return { kind: "ignored" };
  const { resource, action } = type;
  const object = envelope.data.object;
  if (action === "removed") {
    const result = removedObjectSchema.safeParse(object);
    if (!result.success) {
      throw new WebhookPayloadError(describeIssues(result.error.issues, ["data", "object"]));
    }
    return {
      kind: "remove",
      resource,
      id: result.data._id,
      modifiedAt: result.data.modifiedAt ?? null,
    };
  }
  const result = RESOURCES[resource].schema.safeParse(object);
  if (!result.success) {
    throw new WebhookPayloadError(describeIssues(result.error.issues, ["data", "object"]));
  }
  // Stored as sent (key order and unknown fields intact), exactly as the backup's client does.
  return { kind: "upsert", resource, action, record: object as OfficeRndRecord };
}
