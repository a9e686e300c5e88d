import type { Firestore } from "firebase-admin/firestore";
import { ERRORS_COLLECTION, errorDocSchema } from "../backup/documents";
import { safeErrorMessage } from "../backup/metadata";
import { toJsonValue, type JsonValue } from "./format";

/**
 * `officernd-backup errors [--limit N]`: the newest N documents of /errors, newest first (what
 * the design document's `firebase firestore:get /errors --limit 10` meant). Ordered by the `time`
 * field every writer of /errors sets; a document without it is not listed. Documents written by
 * something else than the backup engine are listed too, as stored, marked `valid: false`.
 */

export interface ErrorEntry {
  id: string;
  /** ISO 8601 UTC; null when the stored `time` is not a timestamp. */
  time: string | null;
  functionName: string | null;
  code: string | null;
  runId: string | null;
  trigger: string | null;
  resource: string | null;
  /** One line; anything shaped like a credential redacted. */
  message: string | null;
  /** The document matches the engine's /errors schema. */
  valid: boolean;
  /** Every stored field when it does not (timestamps as ISO strings); else null. */
  document: Record<string, JsonValue> | null;
}

export interface ErrorsReport {
  collection: string;
  limit: number;
  errors: ErrorEntry[];
}

/** Strings of a stored document as safe as the engine's own messages. */
function redacted(value: JsonValue): JsonValue {
  if (typeof value === "string") return safeErrorMessage(value);
  if (Array.isArray(value)) return value.map(redacted);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redacted(v)]));
  }
  return value;
}

function text(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

export async function readRecentErrors(db: Firestore, limit: number): Promise<ErrorsReport> {
  const snap = await db
    .collection(ERRORS_COLLECTION)
    .orderBy("time", "desc")
    .limit(Math.max(1, Math.floor(limit)))
    .get();
  const errors = snap.docs.map((doc): ErrorEntry => {
    const data = doc.data();
    const parsed = errorDocSchema.safeParse(data);
    if (parsed.success) {
      const e = parsed.data;
      return {
        id: doc.id,
        time: e.time.toDate().toISOString(),
        functionName: e.functionName,
        code: e.code,
        runId: e.runId,
        trigger: e.trigger,
        resource: e.resource,
        message: safeErrorMessage(e.message),
        valid: true,
        document: null,
      };
    }
    const time = toJsonValue(data.time);
    const message = text(data.message) ?? text(data.error);
    return {
      id: doc.id,
      time: typeof time === "string" ? time : null,
      functionName: text(data.functionName),
      code: text(data.code),
      runId: text(data.runId),
      trigger: text(data.trigger),
      resource: text(data.resource),
      message: message === null ? null : safeErrorMessage(message),
      valid: false,
      document: redacted(toJsonValue(data)) as Record<string, JsonValue>,
    };
  });
  return { collection: ERRORS_COLLECTION, limit, errors };
}

export function formatErrors(report: ErrorsReport): string {
  if (report.errors.length === 0) return `/${report.collection}: no documents.`;
  const lines = [
    `/${report.collection}: the ${report.errors.length} newest (limit ${report.limit}), newest first`,
  ];
  for (const e of report.errors) {
    const where = [
      e.functionName,
      e.trigger && `trigger ${e.trigger}`,
      e.runId && `run ${e.runId}`,
      e.resource && `resource ${e.resource}`,
    ].filter((part): part is string => typeof part === "string" && part !== "");
    lines.push("");
    lines.push(`${e.time ?? "(no time)"}  ${e.code ?? "(no code)"}  ${e.id}`);
    if (where.length > 0) lines.push(`  ${where.join(", ")}`);
    lines.push(`  ${e.message ?? "(no message)"}`);
    if (!e.valid) lines.push("  (not written by the backup engine: fields as stored, see --json)");
  }
  return lines.join("\n");
}
