import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import {
  html,
  json,
  MAINTENANCE_PAGE,
  oauthError,
  readBody,
  safeEqual,
  type Reply,
} from "./replies";
import type { SandboxRequestLog, SandboxState } from "./state";

/**
 * `POST /oauth/token`, as OfficeRnD's identity server documents it (docs/authentication):
 * form-encoded client credentials, `grant_type=client_credentials` only, space-separated
 * scopes; a scope the application is not granted fails the call (third-party report); about 5
 * calls a minute (unofficial). Answers `{access_token, token_type, expires_in: 3599, scope}`.
 */

function tooMany(retryAfterSeconds: number | string): Reply {
  return json(
    429,
    { error: "too_many_requests", error_description: "Token rate limit exceeded" },
    { "retry-after": String(retryAfterSeconds) },
  );
}

export async function tokenEndpoint(
  state: SandboxState,
  req: IncomingMessage,
  log: SandboxRequestLog,
): Promise<Reply | null> {
  const { settings, stats, faults } = state;
  log.route = "token";
  stats.tokenRequests += 1;
  const now = Date.now();
  if (state.tokenWindow.full(now, settings.tokenRequestsPerMinute)) {
    stats.tokenThrottled += 1;
    return tooMany(state.tokenWindow.retryAfterSeconds(now));
  }
  state.tokenWindow.add(now);

  const fault = faults.take("token", null, null);
  if (fault) {
    log.fault = fault.kind;
    stats.faultsServed += 1;
    switch (fault.kind) {
      case "token-429":
        stats.tokenThrottled += 1;
        return tooMany(fault.retryAfter ?? 1);
      case "token-5xx":
        return json(fault.status ?? 503, {
          error: "server_error",
          error_description: "Try again later",
        });
      case "token-html":
        return html(MAINTENANCE_PAGE);
      case "token-hang":
        return null;
      case "token-slow":
        await state.sleep(fault.delayMs ?? 2000);
        break;
      default:
        break;
    }
  }

  const contentType = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  const raw = await readBody(req);
  if (contentType !== "application/x-www-form-urlencoded") {
    return oauthError(
      400,
      "invalid_request",
      "Content-Type must be application/x-www-form-urlencoded",
    );
  }
  const form = new URLSearchParams(raw);
  if (form.get("grant_type") !== "client_credentials") {
    return oauthError(400, "unsupported_grant_type", "Only client_credentials is supported");
  }
  let id = form.get("client_id");
  let secret = form.get("client_secret");
  const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  if (basic && id === null) {
    const [user, pass] = Buffer.from(basic[1] ?? "", "base64")
      .toString("utf8")
      .split(":");
    id = decodeURIComponent(user ?? "");
    secret = decodeURIComponent(pass ?? "");
  }
  if (
    id === null ||
    secret === null ||
    !safeEqual(id, state.clientId) ||
    !safeEqual(secret, state.clientSecret)
  ) {
    return oauthError(401, "invalid_client", "Client authentication failed");
  }
  const requested = (form.get("scope") ?? "").split(/\s+/).filter((s) => s !== "");
  const granted = new Set(settings.grantedScopes);
  const denied = requested.filter((s) => !granted.has(s));
  if (denied.length > 0) {
    return oauthError(
      400,
      "invalid_scope",
      `Scope not granted to this application: ${denied.join(" ")}`,
    );
  }
  const scopes = requested.length > 0 ? requested : [...granted];
  const accessToken = randomBytes(32).toString("base64url");
  state.tokens.set(accessToken, {
    expiresAt: Date.now() + settings.tokenTtlSeconds * 1000,
    scopes: new Set(scopes),
  });
  stats.tokensIssued += 1;
  state.everIssued.push(accessToken);
  return json(
    200,
    {
      access_token: accessToken,
      token_type: "Bearer",
      expires_in: settings.tokenTtlSeconds,
      scope: scopes.join(" "),
    },
    { "cache-control": "no-store" },
  );
}
