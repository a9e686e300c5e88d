import { RESOURCES, type ResourceName } from "../officernd/resources";
import type { OfficeRndRecord } from "../officernd/schemas";
import { SYNC_FIELD } from "./record-document";
import { isPlainObject } from "./record-hash";

/**
 * What Firestore cannot store (an array inside an array, a document over 1 MiB, …), checked
 * before writing so such a record fails on its own, clearly, instead of failing a whole batch.
 */

/** Firestore's limits (firebase.google.com/docs/firestore/quotas). */
const MAX_DOCUMENT_BYTES = 1_048_576;
/** "Maximum API request size": one commit or batch write, every document in it together. */
export const MAX_REQUEST_BYTES = 10 * 1_048_576;
const MAX_DEPTH = 20;
const MAX_FIELD_NAME_BYTES = 1_500;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** `_sync` as stored: a map of two timestamps and a short string (storage-size rules). */
const SYNC_FIELD_BYTES = SYNC_FIELD.length + 1 + ("syncedAt".length + 1 + 8) * 2 + 16;
/**
 * What a value costs in a write request beyond its storage size: the protobuf wrappers around it
 * (map entry, key and Value message: a tag and a length each, ≤ 15 bytes for values under
 * 2 MiB). Storage size alone undercounts a record of many small fields several times over.
 */
const REQUEST_BYTES_PER_VALUE = 16;
/** The rest of one write in a request: the document's full name, a precondition, the mask. */
const REQUEST_BYTES_PER_WRITE = 512;

export class UnstorableRecordError extends Error {
  constructor(
    readonly resource: ResourceName,
    readonly id: string,
    readonly reason: string,
  ) {
    super(`${resource} ${id}: Firestore cannot store this record: ${reason}`);
    this.name = "UnstorableRecordError";
  }
}

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

function describePath(path: readonly (string | number)[]): string {
  return path.length === 0
    ? "(root)"
    : path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");
}

class StorageProblem extends Error {}

/**
 * Returns the stored size of `value` per Firestore's storage-size rules, or throws a
 * StorageProblem for the first value Firestore would refuse (or silently alter).
 */
function measure(
  value: unknown,
  path: (string | number)[],
  depth: number,
  inArray: boolean,
  tally: { values: number },
): number {
  const where = () => describePath(path);
  tally.values += 1;
  if (value === null) return 1;
  switch (typeof value) {
    case "string":
      if (LONE_SURROGATE.test(value))
        throw new StorageProblem(`${where()}: string is not valid UTF-16/UTF-8`);
      return utf8Bytes(value) + 1;
    case "boolean":
      return 1;
    case "number":
      return 8;
    case "object":
      break;
    default:
      throw new StorageProblem(`${where()}: ${typeof value} values cannot be stored`);
  }
  if (depth > MAX_DEPTH)
    throw new StorageProblem(`${where()}: nested deeper than ${MAX_DEPTH} levels`);
  let size = 0;
  if (Array.isArray(value)) {
    if (inArray)
      throw new StorageProblem(`${where()}: an array directly inside an array cannot be stored`);
    for (let i = 0; i < value.length; i += 1) {
      path.push(i);
      size += measure(value[i], path, depth + 1, true, tally);
      path.pop();
    }
    return size;
  }
  if (!isPlainObject(value))
    throw new StorageProblem(`${where()}: ${value.constructor?.name} values cannot be stored`);
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined)
      throw new StorageProblem(`${where()}.${key}: undefined values cannot be stored`);
    if (key === "") throw new StorageProblem(`${where()}: empty field names cannot be stored`);
    if (/^__.*__$/.test(key))
      throw new StorageProblem(`${where()}.${key}: field names like __x__ are reserved`);
    if (LONE_SURROGATE.test(key))
      throw new StorageProblem(`${where()}: a field name is not valid UTF-16/UTF-8`);
    const keyBytes = utf8Bytes(key);
    if (keyBytes > MAX_FIELD_NAME_BYTES)
      throw new StorageProblem(`${where()}: a field name exceeds 1500 bytes`);
    path.push(key);
    size += keyBytes + 1 + measure(item, path, depth + 1, false, tally);
    path.pop();
  }
  return size;
}

export type Storability =
  /** `requestBytes`: an upper estimate of the record's write in a request (for batching). */
  { storable: true; requestBytes: number } | { storable: false; reason: string };

/** Whether Firestore can store this record's document, and if so what writing it weighs. */
export function storability(resource: ResourceName, record: OfficeRndRecord): Storability {
  if (Object.prototype.hasOwnProperty.call(record, SYNC_FIELD)) {
    return { storable: false, reason: `field ${SYNC_FIELD} is reserved for sync metadata` };
  }
  try {
    const tally = { values: 0 };
    const nameBytes = utf8Bytes(RESOURCES[resource].collection) + 1 + utf8Bytes(record._id) + 1;
    const size = nameBytes + 16 + measure(record, [], 0, false, tally) + SYNC_FIELD_BYTES + 32;
    if (size > MAX_DOCUMENT_BYTES) {
      return {
        storable: false,
        reason: `the document would be ${size} bytes (Firestore's limit is ${MAX_DOCUMENT_BYTES})`,
      };
    }
    // The update mask of a replace names every top-level field once more.
    const maskBytes = Object.keys(record).reduce((sum, key) => sum + utf8Bytes(key) + 4, 0);
    const requestBytes =
      size + tally.values * REQUEST_BYTES_PER_VALUE + maskBytes + REQUEST_BYTES_PER_WRITE;
    return { storable: true, requestBytes };
  } catch (problem) {
    if (problem instanceof StorageProblem) return { storable: false, reason: problem.message };
    throw problem;
  }
}

/** Why Firestore cannot store this record's document, or null when it can. */
export function findUnstorable(resource: ResourceName, record: OfficeRndRecord): string | null {
  const checked = storability(resource, record);
  return checked.storable ? null : checked.reason;
}

/** An upper estimate of a write that carries no record (mark removed, delete) in a request. */
export const REQUEST_BYTES_WITHOUT_RECORD = REQUEST_BYTES_PER_WRITE + 128;
