/**
 * Firestore errors by their gRPC status code: which may go away on a later attempt, and which mean
 * a conditional write lost to a newer version (a conflict, not a failure).
 */

const GRPC_UNKNOWN = 2;
export const GRPC_INVALID_ARGUMENT = 3;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;
const GRPC_RESOURCE_EXHAUSTED = 8;
export const GRPC_FAILED_PRECONDITION = 9;
const GRPC_ABORTED = 10;
const GRPC_INTERNAL = 13;
const GRPC_UNAVAILABLE = 14;

const TRANSIENT_GRPC = new Set([
  GRPC_UNKNOWN,
  GRPC_DEADLINE_EXCEEDED,
  GRPC_RESOURCE_EXHAUSTED,
  GRPC_ABORTED,
  GRPC_INTERNAL,
  GRPC_UNAVAILABLE,
]);
const CONFLICT_GRPC = new Set([GRPC_NOT_FOUND, GRPC_ALREADY_EXISTS, GRPC_FAILED_PRECONDITION]);
/**
 * The request may have been applied although it failed: the answer was lost (a deadline), or the
 * server does not know. A retry of such a conditional write can then fail as a conflict with
 * its own first attempt.
 */
const AMBIGUOUS_GRPC = new Set([GRPC_UNKNOWN, GRPC_DEADLINE_EXCEEDED]);

/** The gRPC status code of a Firestore error, or null. */
export function grpcCode(error: unknown): number | null {
  if (typeof error !== "object" || error === null || !("code" in error)) return null;
  const code = error.code;
  return typeof code === "number" ? code : null;
}

/** Whether a Firestore error may go away on a later attempt (unknown errors: yes). */
export function isTransientFirestoreError(error: unknown): boolean {
  const code = grpcCode(error);
  return code === null || TRANSIENT_GRPC.has(code);
}

/** A conditional write found another version (or no document): a conflict, not a failure. */
export function isConflictCode(code: number | null): boolean {
  return code !== null && CONFLICT_GRPC.has(code);
}

/** A transient error that may be retried within the same run, within `maxAttempts`. */
export function isRetryableCode(code: number | null): boolean {
  return code !== null && TRANSIENT_GRPC.has(code);
}

/** A failure after which the write may have been applied all the same (see AMBIGUOUS_GRPC). */
export function isAmbiguousCode(code: number | null): boolean {
  return code !== null && AMBIGUOUS_GRPC.has(code);
}
