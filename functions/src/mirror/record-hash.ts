import { createHash } from "node:crypto";
import { DocumentReference, GeoPoint, Timestamp } from "firebase-admin/firestore";
import { SYNC_FIELD } from "./record-document";

/**
 * The canonical content hash every comparison of a record with its document uses: equal exactly
 * when the content is equal, whatever the key order and whatever `_sync` holds.
 */

export function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Appends a canonical encoding of `value`: JSON with object keys sorted, and values JSON cannot
 * hold (Timestamps, references, bytes, NaN, … which a corrupted document may contain) written as
 * `!tag(...)`, which no JSON value can produce, so they never compare equal to a record.
 */
function encode(
  value: unknown,
  out: string[],
  skip: ((key: string, value: unknown) => boolean) | null,
): void {
  if (value === null) {
    out.push("null");
    return;
  }
  switch (typeof value) {
    case "string":
      out.push(JSON.stringify(value));
      return;
    case "boolean":
      out.push(value ? "true" : "false");
      return;
    case "number":
      out.push(Number.isFinite(value) ? JSON.stringify(value) : `!num(${String(value)})`);
      return;
    case "object":
      break;
    default:
      out.push(`!${typeof value}`);
      return;
  }
  if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, i) => {
      if (i > 0) out.push(",");
      encode(item, out, null);
    });
    out.push("]");
    return;
  }
  if (isPlainObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined && !(skip?.(k, value[k]) ?? false))
      .sort();
    out.push("{");
    keys.forEach((key, i) => {
      if (i > 0) out.push(",");
      out.push(JSON.stringify(key), ":");
      encode(value[key], out, null);
    });
    out.push("}");
    return;
  }
  if (value instanceof Timestamp) out.push(`!ts(${value.seconds},${value.nanoseconds})`);
  else if (value instanceof GeoPoint) out.push(`!geo(${value.latitude},${value.longitude})`);
  else if (value instanceof DocumentReference) out.push(`!ref(${JSON.stringify(value.path)})`);
  else if (value instanceof Uint8Array)
    out.push(`!bytes(${Buffer.from(value).toString("base64")})`);
  else out.push(`!obj(${JSON.stringify(value.constructor?.name ?? "unknown")})`);
}

/**
 * Top-level fields the comparison leaves out: `_sync` (ours), and custom `properties` when there
 * are none. OfficeRnD omits `properties` entirely when a member has none (docs/officernd-api.md),
 * while other answers about the same record send `{}` (or null): all three mean the same, and
 * must not look like drift on every run.
 */
function skippedTopLevel(key: string, value: unknown): boolean {
  if (key === SYNC_FIELD) return true;
  return (
    key === "properties" &&
    (value === null ||
      (typeof value === "object" && isPlainObject(value) && Object.keys(value).length === 0))
  );
}

/** The canonical form of a record or record document (see `skippedTopLevel`). */
export function canonicalRecord(data: Readonly<Record<string, unknown>>): string {
  const out: string[] = [];
  encode(data, out, skippedTopLevel);
  return out.join("");
}

/**
 * Content hash of a record or of its Firestore document: equal exactly when the content is equal,
 * whatever the key order and whatever `_sync` holds. 256-bit SHA, base64url (43 characters).
 */
export function recordHash(data: Readonly<Record<string, unknown>>): string {
  return createHash("sha256").update(canonicalRecord(data)).digest("base64url");
}

export function sameRecordContent(
  a: Readonly<Record<string, unknown>>,
  b: Readonly<Record<string, unknown>>,
): boolean {
  return canonicalRecord(a) === canonicalRecord(b);
}
