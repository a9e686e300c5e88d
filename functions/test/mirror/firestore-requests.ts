import { dirname, join } from "node:path";
import type { Firestore } from "firebase-admin/firestore";

/**
 * Test helpers around the one funnel of @google-cloud/firestore's RPCs (`Firestore.request`,
 * internal: checked to exist rather than silently testing nothing), to play what the emulator
 * cannot: an answer lost after the commit landed, and production's request size limit.
 */

type RequestFn = (
  method: string,
  request: unknown,
  requestTag: string,
  retryCodes?: unknown,
) => Promise<unknown>;

export type Interceptor = (
  method: string,
  request: unknown,
  send: () => Promise<unknown>,
) => Promise<unknown>;

/** Routes every RPC of `db` through `intercept`; returns the undo. */
export function interceptRequests(db: Firestore, intercept: Interceptor): () => void {
  const target = db as unknown as { request: RequestFn };
  if (typeof target.request !== "function") {
    throw new Error("@google-cloud/firestore no longer has Firestore.request: update this helper");
  }
  const original = target.request;
  target.request = (method, request, requestTag, retryCodes) =>
    intercept(method, request, () => original.call(db, method, request, requestTag, retryCodes));
  return () => {
    Reflect.deleteProperty(target, "request");
  };
}

interface ProtoType {
  fromObject(value: unknown): unknown;
  encode(message: unknown): { finish(): Uint8Array };
}

/** The generated protobuf classes the SDK itself encodes requests with. */
function protoTypes(): { BatchWriteRequest: ProtoType; Write: ProtoType } {
  const file = join(
    dirname(require.resolve("@google-cloud/firestore")),
    "..",
    "protos",
    "firestore_v1_proto_api.js",
  );
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const root = require(file) as { google: { firestore: { v1: Record<string, ProtoType> } } };
  const v1 = root.google.firestore.v1;
  const { BatchWriteRequest, Write } = v1;
  if (!BatchWriteRequest || !Write) throw new Error("Firestore's protobuf classes moved");
  return { BatchWriteRequest, Write };
}

/** The request's size on the wire (protobuf), as Firestore's 10 MiB limit counts it. */
export function encodedBytes(type: "BatchWriteRequest" | "Write", message: unknown): number {
  const proto = protoTypes()[type];
  return proto.encode(proto.fromObject(message)).finish().length;
}

export interface BatchWriteRequest {
  writes: { update?: { name: string }; delete?: string }[];
}
