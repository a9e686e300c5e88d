import { errorDetail } from "./http";
import type { RetryAction } from "./retry";
import type { OfficeRndErrorCode } from "./types";

/**
 * What a non-200 answer of OfficeRnD's API means: the error code, what the client does next and
 * a hint for the operator. One classifier for the client and `check`. OfficeRnD's error body is
 * `{statusCode, message, error, timestamp, path}`, `message` possibly an array (live, Feb 2026;
 * docs/officernd-api.md).
 */

export interface AnswerContext {
  /** Resource of the request (for scope hints). */
  scope: string | null;
  orgSlug: string;
  /** The request carried a `$cursorNext`. */
  withCursor: boolean;
  /** The answer's headers said the daily quota is spent. */
  dayQuotaSpent: boolean;
}

export interface AnswerVerdict {
  code: OfficeRndErrorCode;
  action: RetryAction;
  /** `status (OfficeRnD's explanation)` plus what to do about it. */
  message: string;
}

/** Live: a wrong or foreign org slug answers 500 "Organization not found", not 404. */
const ORG_NOT_FOUND = /organi[sz]ation not found/i;
/** Live: a tampered cursor answers 500 with a JSON parse error. */
const JSON_PARSE_ERROR = /json|unexpected token|unexpected end/i;

export function classifyAnswer(
  status: number,
  body: string,
  contentType: string,
  context: AnswerContext,
): AnswerVerdict {
  const detail = `${status} (${errorDetail(body, contentType)})`;
  if (status === 429) {
    if (context.dayQuotaSpent) {
      return {
        code: "quota_exhausted",
        action: "fail",
        message: `${detail}: the daily read quota is spent`,
      };
    }
    return { code: "throttled", action: "retry-after", message: detail };
  }
  if (status >= 500) {
    if (ORG_NOT_FOUND.test(body)) {
      return {
        code: "org_not_found",
        action: "fail",
        message:
          `${detail}: OfficeRnD has no organization "${context.orgSlug}" for these credentials; ` +
          "check OFFICERND_ORG_SLUG (the slug in your OfficeRnD address) — a configuration error, not retried",
      };
    }
    if (context.withCursor && status === 500 && JSON_PARSE_ERROR.test(body)) {
      return {
        code: "server",
        action: "fail",
        message:
          `${detail}: OfficeRnD could not read the cursor (cursorNext) it sent for this page, ` +
          "so the listing cannot go on; the next run starts it over",
      };
    }
    return { code: "server", action: "backoff", message: detail };
  }
  if (status === 401) return { code: "auth", action: "renew-token", message: detail };
  if (status === 403) {
    const scope =
      context.scope === null ? "" : `; the OfficeRnD application needs the ${context.scope} scope`;
    return { code: "forbidden", action: "fail", message: `${detail}${scope}` };
  }
  if (status === 404) {
    return {
      code: "not_found",
      action: "fail",
      message: `${detail}; check OFFICERND_ORG_SLUG (${context.orgSlug}) and OFFICERND_API_URL`,
    };
  }
  if (status >= 400) return { code: "bad_request", action: "fail", message: detail };
  if (status >= 300) {
    return {
      code: "invalid_response",
      action: "fail",
      message: `${status} redirect, not followed (the bearer token would go along)`,
    };
  }
  return { code: "invalid_response", action: "fail", message: detail };
}
