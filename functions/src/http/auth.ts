import { createHash, timingSafeEqual } from "node:crypto";
import type { Request, RequestHandler } from "express";
import type * as AdminAuth from "firebase-admin/auth";
import { logs } from "../logs";
import { Redactor } from "../shared/redactor";
import { requestContext } from "./context";
import { HttpError } from "./errors";

/**
 * Two kinds of caller:
 * - `Authorization: Bearer <BACKUP_STATUS_TOKEN>`: dashboards and operators; read-only routes.
 * - `Authorization: Bearer <Firebase Auth ID token>` whose `admin` custom claim is true: every route.
 * Anything else is 401 with `WWW-Authenticate: Bearer realm="office-rnd"`. A valid status token
 * on an admin-only route is 403: the caller is known, the token does not grant that.
 */

export const REALM_HEADER = 'Bearer realm="office-rnd"';

export interface IdTokenClaims {
  uid: string;
  admin?: boolean;
}
/** Verifies a Firebase Auth ID token; rejects with InvalidIdTokenError (or an `auth/…` error). */
export type IdTokenVerifier = (idToken: string) => Promise<IdTokenClaims>;

/** The token is not a valid ID token (as opposed to the verifier being unable to check it). */
export class InvalidIdTokenError extends Error {
  constructor(readonly code = "auth/invalid-id-token") {
    super("invalid ID token");
    this.name = "InvalidIdTokenError";
  }
}

/**
 * firebase-admin/auth, loaded on first use: most requests carry the status token and never need
 * it (less cold-start work), and it pulls in an ESM-only dependency that jest cannot load.
 */
function adminAuth(): typeof AdminAuth {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("firebase-admin/auth") as typeof AdminAuth;
}

/**
 * ID tokens cannot be checked right now: Google's token signing keys could not be fetched, the
 * check took too long, or firebase-admin failed otherwise. The server's problem, not the caller's.
 */
export class IdTokenUnverifiableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "IdTokenUnverifiableError";
  }
}

/** Codes firebase-admin gives a token that is itself bad (expired, revoked, disabled user…). */
const TOKEN_PROBLEM_CODES: ReadonlySet<string> = new Set([
  "auth/id-token-expired",
  "auth/id-token-revoked",
  "auth/invalid-id-token",
  "auth/user-disabled",
  "auth/user-not-found",
]);

/**
 * The `auth/…` code when the token itself is bad (a 401), null when it could not be checked (a
 * 500). firebase-admin (14.x) reports a bad token and a failed key fetch with the same code,
 * `auth/argument-error`; only the message tells them apart: a token problem names the token
 * ("Firebase ID token has invalid signature", "Decoding Firebase ID token failed", …), a key fetch
 * failure does not ("Error fetching public keys for Google certs: …", "Error while making
 * request: … ENOTFOUND"). `auth/internal-error`, `auth/invalid-credential` (no project id) and
 * errors without a code are the server's.
 */
export function tokenProblemCode(error: unknown): string | null {
  if (error instanceof InvalidIdTokenError) return error.code;
  if (error instanceof IdTokenUnverifiableError) return null;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return null;
  if (TOKEN_PROBLEM_CODES.has(code)) return code;
  if (code === "auth/argument-error" && error instanceof Error && /ID token/.test(error.message)) {
    return code;
  }
  return null;
}

export interface FirebaseIdTokenVerifierOptions {
  /** The check itself (default: firebase-admin's `getAuth().verifyIdToken` on the default app). */
  verify?: (idToken: string) => Promise<{ uid: string }>;
  /** Longest wait for one check (firebase-admin's key fetch has no timeout of its own). */
  timeoutMs?: number;
  /** After a failed check, how long requests are answered at once, without another fetch. */
  retryAfterMs?: number;
}

/**
 * Bounds a key fetch that hangs well inside the `api` function's 60 s: a healthy check takes well
 * under a second, and an unreachable Google takes 25–30 s per request without a bound.
 */
export const ID_TOKEN_CHECK_TIMEOUT_MS = 10_000;
/**
 * firebase-admin caches the keys only once it has them; while they cannot be fetched every
 * request fetches again. So a failure is remembered this long: requests meanwhile get their 500
 * at once, and the first one after it tries again.
 */
export const ID_TOKEN_RETRY_AFTER_MS = 30_000;

/** `work`, or an IdTokenUnverifiableError after `ms` (the work is left to finish on its own). */
function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new IdTokenUnverifiableError(`no answer from the ID token check within ${ms} ms`));
    }, ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** A verifier whose failures to check are classified, bounded in time and remembered briefly. */
export function createFirebaseIdTokenVerifier(
  options: FirebaseIdTokenVerifierOptions = {},
): IdTokenVerifier {
  const verify = options.verify ?? ((idToken) => adminAuth().getAuth().verifyIdToken(idToken));
  const timeoutMs = options.timeoutMs ?? ID_TOKEN_CHECK_TIMEOUT_MS;
  const retryAfterMs = options.retryAfterMs ?? ID_TOKEN_RETRY_AFTER_MS;
  let failure: { until: number; message: string } | null = null;

  return async (idToken) => {
    if (failure !== null && Date.now() < failure.until) {
      const retryAt = new Date(failure.until).toISOString();
      throw new IdTokenUnverifiableError(`${failure.message} (next try after ${retryAt})`);
    }
    let decoded: { uid: string };
    try {
      decoded = await bounded(verify(idToken), timeoutMs);
    } catch (error) {
      if (tokenProblemCode(error) !== null) throw error;
      const message = error instanceof Error ? error.message.slice(0, 300) : "non-Error thrown";
      failure = { until: Date.now() + retryAfterMs, message };
      throw new IdTokenUnverifiableError(message, { cause: error });
    }
    failure = null;
    const claims: Record<string, unknown> = decoded;
    return { uid: decoded.uid, admin: claims.admin === true };
  };
}

/** firebase-admin's verifier on the default app (initialized by the function or the CLI). */
export const verifyFirebaseIdToken: IdTokenVerifier = createFirebaseIdTokenVerifier();

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

/** Constant-time equality with the configured token (equal-length digests, whatever the input). */
export function createTokenMatcher(expected: string): (candidate: string) => boolean {
  const expectedDigest = digest(expected);
  return (candidate) => timingSafeEqual(digest(candidate), expectedDigest);
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export type Access = "read" | "admin";

export interface AuthOptions {
  statusToken: string;
  verifyIdToken: IdTokenVerifier;
}

function unauthorized(req: Request, reason: string, message: string): HttpError {
  const { path, requestId } = requestContext(req);
  logs.httpAuthRejected({ method: req.method, path, reason, requestId });
  return new HttpError(401, "unauthorized", message, {
    headers: { "WWW-Authenticate": REALM_HEADER },
  });
}

/**
 * The token could not be checked (docs/api.md: a 500, not a 401: the caller's token may be fine).
 * The cause is logged with the token redacted, should a message ever quote it.
 */
function unverifiable(req: Request, token: string, error: unknown): HttpError {
  const { path, requestId } = requestContext(req);
  const redactor = new Redactor();
  redactor.add(token);
  const cause = error instanceof Error ? error.message : "non-Error thrown";
  logs.httpAuthUnavailable({
    method: req.method,
    path,
    requestId,
    error: redactor.redact(cause).slice(0, 300),
  });
  return new HttpError(
    500,
    "auth_unavailable",
    "ID tokens cannot be checked right now (Google's token signing keys are unreachable); try again later",
    { details: { requestId } },
  );
}

/** Middleware factory: one per access level, sharing the token matcher. */
export function createAuth(options: AuthOptions): (access: Access) => RequestHandler {
  const matchesStatusToken = createTokenMatcher(options.statusToken);

  return (access) => async (req, _res, next) => {
    const header = req.headers.authorization;
    if (header === undefined || header.trim() === "") {
      throw unauthorized(req, "missing_credentials", "authorization required: Bearer token");
    }
    const [scheme = "", token = "", ...rest] = header.trim().split(/\s+/);
    if (scheme.toLowerCase() !== "bearer") {
      throw unauthorized(req, "wrong_scheme", "authorization must use the Bearer scheme");
    }
    if (token === "" || rest.length > 0) {
      throw unauthorized(req, "malformed_credentials", "malformed Bearer credentials");
    }

    const context = requestContext(req);
    if (matchesStatusToken(token)) {
      context.principal = { kind: "status_token" };
      if (access === "admin") {
        logs.httpAuthRejected({
          method: req.method,
          path: context.path,
          reason: "status_token_not_admin",
          requestId: context.requestId,
        });
        throw new HttpError(403, "forbidden", "this route requires an admin ID token");
      }
      next();
      return;
    }

    if (!JWT_SHAPE.test(token)) {
      throw unauthorized(req, "invalid_token", "invalid bearer token");
    }
    let claims: IdTokenClaims;
    try {
      claims = await options.verifyIdToken(token);
    } catch (error) {
      const code = tokenProblemCode(error);
      if (code === null) throw unverifiable(req, token, error);
      throw unauthorized(req, `id_token_rejected:${code}`, "invalid bearer token");
    }
    if (claims.admin !== true) {
      throw unauthorized(req, "id_token_not_admin", "the ID token has no admin claim");
    }
    context.principal = { kind: "admin", uid: claims.uid };
    next();
  };
}
