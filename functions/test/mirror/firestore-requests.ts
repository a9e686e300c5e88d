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

/** `send()` passes the request on as it came; `send(other)` sends another in its place. */
export type Interceptor = (
  method: string,
  request: unknown,
  send: (replacement?: unknown) => Promise<unknown>,
) => Promise<unknown>;

/** Routes every RPC of `db` through `intercept`; returns the undo. */
export function interceptRequests(db: Firestore, intercept: Interceptor): () => void {
  const target = db as unknown as { request: RequestFn };
  if (typeof target.request !== "function") {
    throw new Error("@google-cloud/firestore no longer has Firestore.request: update this helper");
  }
  const original = target.request;
  target.request = (method, request, requestTag, retryCodes) =>
    intercept(method, request, (replacement = request) =>
      original.call(db, method, replacement, requestTag, retryCodes),
    );
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
  database?: string;
  writes: { update?: { name: string }; delete?: string }[];
}

interface BatchWriteResponse {
  writeResults?: unknown[];
  status?: unknown[];
}

const GRPC_INVALID_ARGUMENT = 3;

export interface LostAnswers {
  /** Answers lost so far. */
  lost(): number;
  /** Writes in the requests whose answer was lost. */
  writes(): number;
  restore(): void;
}

/**
 * What the emulator cannot do by itself: the next `times` requests named `method` commit, then
 * their answer is lost, as Firestore reports a deadline or a dropped connection (`code`: 4
 * DEADLINE_EXCEEDED, 2 UNKNOWN). `between` runs after the commit, before the failure (e.g. a
 * webhook writing the same document before the retry).
 */
export function loseAnswers(
  db: Firestore,
  options: {
    method: "batchWrite" | "commit";
    code: number;
    times?: number;
    between?: () => Promise<void>;
  },
): LostAnswers {
  let lost = 0;
  let writes = 0;
  const restore = interceptRequests(db, async (method, request, send) => {
    if (method !== options.method || lost >= (options.times ?? 1)) return send();
    await send();
    lost += 1;
    writes += (request as BatchWriteRequest).writes.length;
    await options.between?.();
    const name = options.code === 4 ? "DEADLINE_EXCEEDED" : "UNKNOWN";
    throw Object.assign(new Error(`${options.code} ${name}: answer lost (injected)`), {
      code: options.code,
    });
  });
  return { lost: () => lost, writes: () => writes, restore };
}

export interface RequestLimit {
  /** The largest batchWrite request seen, in bytes on the wire. */
  largest(): number;
  /** batchWrite requests seen, and those over the limit (refused). */
  requests(): number;
  refused(): number;
  restore(): void;
}

/**
 * Firestore's request size rule on batchWrite: a request over `limitBytes` is refused with
 * INVALID_ARGUMENT ("Request payload size exceeds the limit"), as production refuses one over
 * 10 MiB. The emulator takes at most 4 MiB per request (gRPC's default) and hangs above it, so a
 * request under the limit but over `emulatorMaxBytes` is sent to it in parts (a batchWrite
 * applies each write on its own, so parts answer as the whole would).
 */
export function limitRequestSize(
  db: Firestore,
  options: { limitBytes: number; emulatorMaxBytes?: number },
): RequestLimit {
  let largest = 0;
  let requests = 0;
  let refused = 0;
  const restore = interceptRequests(db, async (method, request, send) => {
    if (method !== "batchWrite") return send();
    requests += 1;
    const bytes = encodedBytes("BatchWriteRequest", request);
    largest = Math.max(largest, bytes);
    if (bytes > options.limitBytes) {
      refused += 1;
      throw Object.assign(
        new Error(
          `3 INVALID_ARGUMENT: Request payload size exceeds the limit: ${options.limitBytes} bytes.`,
        ),
        { code: GRPC_INVALID_ARGUMENT },
      );
    }
    const max = options.emulatorMaxBytes;
    if (max === undefined || bytes <= max) return send();
    const whole = request as BatchWriteRequest;
    const answer: Required<BatchWriteResponse> = { writeResults: [], status: [] };
    for (const writes of partsUnder(whole.writes, max)) {
      const part = (await send({ ...whole, writes })) as BatchWriteResponse;
      answer.writeResults.push(...(part.writeResults ?? []));
      answer.status.push(...(part.status ?? []));
    }
    return answer;
  });
  return {
    largest: () => largest,
    requests: () => requests,
    refused: () => refused,
    restore,
  };
}

/** Consecutive writes, each group at most `maxBytes` on the wire (at least one write). */
function partsUnder<T>(writes: readonly T[], maxBytes: number): T[][] {
  const parts: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const write of writes) {
    const size = encodedBytes("Write", write) + 6;
    if (current.length > 0 && bytes + size > maxBytes) {
      parts.push(current);
      current = [];
      bytes = 0;
    }
    current.push(write);
    bytes += size;
  }
  if (current.length > 0) parts.push(current);
  return parts;
}
