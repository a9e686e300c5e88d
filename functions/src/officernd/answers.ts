import { errorDetail } from "./http";
import { RESOURCE_NAMES, RESOURCES } from "./resources";
import type { RetryAction } from "./retry";
import type { OfficeRndErrorCode } from "./types";

/**
 * What a non-200 answer of OfficeRnD means: the error code, what the client does next, a
 * diagnosis in the operator's words, and a message that says what to do. The one classifier of
 * OfficeRnD's answers, for the API client, the token request and `check`. OfficeRnD's API error
 * body is `{statusCode, message, error, timestamp, path}`, `message` possibly an array; its token
 * endpoint answers OAuth errors `{error, error_description}` (docs/officernd-api.md).
 */

/** The cause, as `check` names it (its verdicts are these plus ok, skipped, unreachable, …). */
export const DIAGNOSES = [
  "bad_credentials",
  "missing_scope",
  "wrong_org_slug",
  "forbidden",
  "throttled",
  "server_error",
  "wrong_url",
  "bad_request",
] as const;
export type Diagnosis = (typeof DIAGNOSES)[number];

export interface AnswerVerdict {
  code: OfficeRndErrorCode;
  action: RetryAction;
  diagnosis: Diagnosis;
  /** `status (OfficeRnD's explanation)` plus what to do about it. */
  message: string;
}

export interface ApiAnswerContext {
  /** The scope that reads the requested resource. */
  scope: string;
  /** Whether the token carries that scope; null when unknown. */
  scopeGranted?: boolean | null;
  orgSlug: string;
  /** The request carried a `$cursorNext`. */
  withCursor: boolean;
  /** The answer's headers said the daily quota is spent. */
  dayQuotaSpent: boolean;
}

/** Live: a wrong or foreign org slug answers 500 "Organization not found", not 404. */
const ORG_NOT_FOUND = /organi[sz]ation not found/i;
/** Live: a tampered cursor answers 500 with a JSON parse error. */
const JSON_PARSE_ERROR = /json|unexpected token|unexpected end/i;

function verdict(
  code: OfficeRndErrorCode,
  action: RetryAction,
  diagnosis: Diagnosis,
  message: string,
): AnswerVerdict {
  return { code, action, diagnosis, message };
}

/** Answers both endpoints give the same meaning: redirects, 429s, 5xx. */
function common(status: number, detail: string, urlVariable: string): AnswerVerdict | null {
  if (status >= 300 && status < 400) {
    return verdict(
      "invalid_response",
      "fail",
      "wrong_url",
      `${status}: a redirect, not followed (the credentials would go along); check ${urlVariable}`,
    );
  }
  if (status === 429) return verdict("throttled", "retry-after", "throttled", `429 (${detail})`);
  if (status >= 500) return verdict("server", "backoff", "server_error", `${status} (${detail})`);
  return null;
}

/** A non-200 answer of the API (`…/organizations/{slug}/…`). */
export function classifyAnswer(
  status: number,
  body: string,
  contentType: string,
  context: ApiAnswerContext,
): AnswerVerdict {
  const detail = `${status} (${errorDetail(body, contentType)})`;
  if (status === 429 && context.dayQuotaSpent) {
    return verdict(
      "quota_exhausted",
      "fail",
      "throttled",
      `${detail}: the daily read quota is spent`,
    );
  }
  if (status >= 500 && ORG_NOT_FOUND.test(body)) {
    return verdict(
      "org_not_found",
      "fail",
      "wrong_org_slug",
      `${detail}: OfficeRnD has no organization "${context.orgSlug}" for these credentials; ` +
        "check OFFICERND_ORG_SLUG (the slug in your OfficeRnD address) — a configuration error, not retried",
    );
  }
  if (status === 500 && context.withCursor && JSON_PARSE_ERROR.test(body)) {
    return verdict(
      "server",
      "fail",
      "server_error",
      `${detail}: OfficeRnD could not read the cursor (cursorNext) it sent for this page, ` +
        "so the listing cannot go on; the next run starts it over",
    );
  }
  const shared = common(status, errorDetail(body, contentType), "OFFICERND_API_URL");
  if (shared) return shared;
  if (status === 401) {
    return verdict(
      "auth",
      "renew-token",
      "bad_credentials",
      `${detail}: the API refused a token its identity server issued; ` +
        "OFFICERND_TOKEN_URL and OFFICERND_API_URL may point at different OfficeRnD environments",
    );
  }
  if (status === 403) {
    return context.scopeGranted === true
      ? verdict(
          "forbidden",
          "fail",
          "forbidden",
          `${detail} although the token carries ${context.scope}: is the application installed in organization ${context.orgSlug}?`,
        )
      : verdict(
          "forbidden",
          "fail",
          "missing_scope",
          `${detail}; the OfficeRnD application needs the ${context.scope} scope`,
        );
  }
  if (status === 404) {
    return verdict(
      "not_found",
      "fail",
      "wrong_org_slug",
      `${detail}; check OFFICERND_ORG_SLUG (${context.orgSlug}) and OFFICERND_API_URL`,
    );
  }
  return verdict("bad_request", "fail", "bad_request", detail);
}

function oauthErrorCode(body: string): string | null {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === "object" && "error" in parsed) {
      return typeof parsed.error === "string" ? parsed.error : null;
    }
  } catch {
    // not JSON
  }
  return null;
}

const BAD_CREDENTIALS = new Set([
  "invalid_client",
  "unauthorized_client",
  "invalid_grant",
  "access_denied",
]);

/** A non-200 answer of the token endpoint. `scopes`: what was asked for. */
export function classifyTokenAnswer(
  status: number,
  body: string,
  contentType: string,
  scopes: string,
): AnswerVerdict {
  const detail = `${status} (${errorDetail(body, contentType)})`;
  const shared = common(status, errorDetail(body, contentType), "OFFICERND_TOKEN_URL");
  if (shared) return shared;
  const oauth = oauthErrorCode(body);
  if (oauth === "invalid_scope") {
    return verdict("auth", "fail", "missing_scope", `${detail}; ${scopeAdvice(body, scopes)}`);
  }
  if (status === 401 || status === 403 || (oauth !== null && BAD_CREDENTIALS.has(oauth))) {
    return verdict(
      "auth",
      "fail",
      "bad_credentials",
      `${detail}; check OFFICERND_CLIENT_ID and OFFICERND_CLIENT_SECRET`,
    );
  }
  if (status === 404) {
    return verdict(
      "not_found",
      "fail",
      "wrong_url",
      `${detail}: no token endpoint there; check OFFICERND_TOKEN_URL`,
    );
  }
  return verdict("bad_request", "fail", "bad_request", `${detail}; check OFFICERND_TOKEN_URL`);
}

/**
 * Which scope the token request was refused, and how to fix it: grant it to the OfficeRnD
 * application, or leave its data type out of BACKUP_RESOURCES. OfficeRnD's answer may or may not
 * name the scope; without a name, every scope asked for is listed.
 */
/** The registered scopes a refusal names (OfficeRnD's answer may name none). */
export function scopesNamedIn(body: string): string[] {
  return RESOURCE_NAMES.map((n) => RESOURCES[n].scope).filter((scope) => body.includes(scope));
}

function scopeAdvice(body: string, asked: string): string {
  const named = RESOURCE_NAMES.filter((n) => body.includes(RESOURCES[n].scope));
  const types =
    named.length > 0 ? named : RESOURCE_NAMES.filter((n) => asked.includes(RESOURCES[n].scope));
  if (types.length === 0) return `the OfficeRnD application must be granted ${asked}`;
  const list = types.map((n) => `${RESOURCES[n].scope} (${n})`).join(", ");
  return (
    `the OfficeRnD application ${named.length > 0 ? "is not granted" : "must be granted every scope asked for"}: ${list}; ` +
    `grant it in OfficeRnD, or leave ${types.join(", ")} out of BACKUP_RESOURCES`
  );
}
