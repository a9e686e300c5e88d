import { z } from "zod";
import { normalizeRecordId, withNormalizedId } from "../mirror/record-document";
import { RESOURCES, type ResourceDefinition, type ResourceName } from "../officernd/resources";
import { officeRndId, type OfficeRndRecord } from "../officernd/schemas";

/**
 * What a delivery says, validated: the envelope `{event, eventType, data: {object,
 * previousAttributes?}, createdAt}` (developer.officernd.com/docs/webhooks-getting-started), and
 * for the event types the mirror follows, the record, checked with the same schema the backup's
 * client uses, so both paths accept exactly the same records.
 */

/**
 * An ISO 8601 date-time with seconds and a zone, as OfficeRnD writes times
 * (`2024-01-15T10:30:00.000Z`, docs/officernd-api.md). Not `Date.parse`, which also takes
 * "March 7", "2026" or `+275760-09-13T00:00:00Z`: event times order the mirror, so a time that is
 * not one is refused rather than guessed at.
 */
const isoTime = z.iso.datetime({
  offset: true,
  error: "must be an ISO 8601 date-time with a zone (e.g. 2026-01-15T10:30:00.000Z)",
});

/**
 * How far in the future an event time that orders the mirror (a record's `modifiedAt`, a removal's
 * times) may be. OfficeRnD stamps them when the change happens, so anything later than now (give
 * or take clocks) is wrong; a day leaves room for a wrong clock without refusing real events, and
 * webhooks/apply.ts keeps even those from holding back later events for long.
 */
export const EVENT_TIME_MAX_FUTURE_MS = 24 * 3_600_000;

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
  // docs/officernd-api.md: booking.* events exist (created/updated/removed).
  booking: "bookings",
};

const ACTIONS = ["created", "updated", "removed"] as const;
type Action = (typeof ACTIONS)[number];

/** The removed record: its id and, when sent, its last `modifiedAt`. */
const removedObjectSchema = z.looseObject({
  _id: officeRndId,
  modifiedAt: isoTime.nullish(),
});

export type WebhookChange =
  /** `*.created` / `*.updated`: the record as OfficeRnD sent it. */
  | { kind: "upsert"; resource: ResourceName; action: Action; record: OfficeRndRecord }
  | { kind: "remove"; resource: ResourceName; id: string; modifiedAt: string | null }
  /** A type the mirror does not follow. */
  | { kind: "ignored" };

/** Why a signed payload is refused (a rejection reason, counted and logged). */
export type PayloadProblem = "invalid_payload" | "time_out_of_range";

export class WebhookPayloadError extends Error {
  constructor(
    message: string,
    readonly reason: PayloadProblem = "invalid_payload",
  ) {
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

/**
 * A resource's version field must be an ISO 8601 time: a record stored without a version could
 * not be ordered against the next event (webhooks/apply.ts).
 */
function versionSchema(resource: ResourceName): z.ZodType | null {
  const definition: ResourceDefinition = RESOURCES[resource];
  const field = definition.versionField;
  if (field === null) return null;
  const fallback = definition.versionFallback;
  if (fallback === undefined) return z.looseObject({ [field]: isoTime });
  // A booking just created has no modifiedAt (live): its createdAt must then be a time.
  return z
    .looseObject({ [field]: isoTime.optional(), [fallback]: isoTime.optional() })
    .refine((r) => r[field] !== undefined || r[fallback] !== undefined, {
      message: `${field} or ${fallback} is required`,
    });
}

/** Refuses a time (of those that order the mirror) later than now + EVENT_TIME_MAX_FUTURE_MS. */
function checkNotFuture(path: string, value: unknown, now: Date): void {
  // Called after the schemas: a value here is absent or an ISO 8601 time.
  if (typeof value !== "string") return;
  const limit = now.getTime() + EVENT_TIME_MAX_FUTURE_MS;
  if (Date.parse(value) > limit) {
    throw new WebhookPayloadError(
      `${path}: more than ${EVENT_TIME_MAX_FUTURE_MS / 3_600_000} h in the future`,
      "time_out_of_range",
    );
  }
}

/**
 * What the event changes in the mirror; throws WebhookPayloadError for an invalid record or an
 * event time out of range. Record ids come out in the mirror's form (lower case).
 */
export function interpretEvent(envelope: WebhookEnvelope, now: Date): WebhookChange {
  const type = classifyEventType(envelope.eventType);
  if (type === null) return { kind: "ignored" };
  const { resource, action } = type;
  const object = envelope.data.object;
  if (action === "removed") {
    const result = removedObjectSchema.safeParse(object);
    if (!result.success) {
      throw new WebhookPayloadError(describeIssues(result.error.issues, ["data", "object"]));
    }
    // Both times place the removal (webhooks/apply.ts): both are bounded.
    checkNotFuture("data.object.modifiedAt", result.data.modifiedAt, now);
    checkNotFuture("createdAt", envelope.createdAt, now);
    return {
      kind: "remove",
      resource,
      id: normalizeRecordId(result.data._id),
      modifiedAt: result.data.modifiedAt ?? null,
    };
  }
  const result = RESOURCES[resource].schema.safeParse(object);
  if (!result.success) {
    throw new WebhookPayloadError(describeIssues(result.error.issues, ["data", "object"]));
  }
  const versioned = versionSchema(resource)?.safeParse(object);
  if (versioned && !versioned.success) {
    throw new WebhookPayloadError(describeIssues(versioned.error.issues, ["data", "object"]));
  }
  const field = RESOURCES[resource].versionField;
  const record = object as OfficeRndRecord;
  if (field !== null) checkNotFuture(`data.object.${field}`, record[field], now);
  // Stored as sent (key order and unknown fields intact), exactly as the backup's client does,
  // but for the id's case (normalizeRecordId).
  return { kind: "upsert", resource, action, record: withNormalizedId(record) };
}
