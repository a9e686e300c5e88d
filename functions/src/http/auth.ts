import { createHash, timingSafeEqual } from "node:crypto";
import type { Request, RequestHandler } from "express";
import type * as AdminAuth from "firebase-admin/auth";
import { logs } from "../logs";
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

/** firebase-admin's verifier on the default app (initialized by the function or the CLI). */
export const verifyFirebaseIdToken: IdTokenVerifier = async (idToken) => {
  const decoded = await adminAuth().getAuth().verifyIdToken(idToken);
  const claims: Record<string, unknown> = decoded;
  return { uid: decoded.uid, admin: claims.admin === true };
};

/** `auth/…` codes mean "this token is bad"; `auth/internal-error` and others mean "cannot check". */
function rejectionCode(error: unknown): string | null {
  if (error instanceof InvalidIdTokenError) return error.code;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.startsWith("auth/") && code !== "auth/internal-error") {
    return code;
  }
  return null;
}

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
      const code = rejectionCode(error);
      if (code === null) throw new Error("ID token verification unavailable", { cause: error });
      throw unauthorized(req, `id_token_rejected:${code}`, "invalid bearer token");
    }
    if (claims.admin !== true) {
      throw unauthorized(req, "id_token_not_admin", "the ID token has no admin claim");
    }
    context.principal = { kind: "admin", uid: claims.uid };
    next();
  };
}
