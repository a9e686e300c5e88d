import express, { type Request, type RequestHandler, type Response } from "express";
import type { Firestore } from "firebase-admin/firestore";
import {
  ConfigError,
  loadBackupConfig,
  loadWebhookConfig,
  type BackupConfig,
  type ConfigSource,
  type WebhookConfig,
} from "../../config";
import { within } from "../../mirror/deadline";
import { UnstorableRecordError } from "../../mirror/storable";
import { requestContext } from "../context";
import { sendError } from "../errors";
import type { RouteDefinition } from "../routing";
import { logs } from "../../logs";
import { applyWebhookEvent } from "../../webhooks/apply";
import type { RejectionReason, WebhookOutcome } from "../../webhooks/webhook-documents";
import {
  interpretEvent,
  parseEnvelope,
  WebhookPayloadError,
  type PayloadProblem,
  type WebhookChange,
  type WebhookEnvelope,
} from "../../webhooks/payload";
import { SIGNATURE_HEADER, verifySignature, type SignatureCheck } from "../../webhooks/signature";
import { countDelivery, countRejection } from "../../webhooks/stats";

/**
 * `POST /v1/office-rnd/webhook`: OfficeRnD's deliveries, on the product's app (Hosting rewrites
 * /v1/** to the `api` function). Authenticated by the signature alone (no bearer token: OfficeRnD
 * cannot send one). Answers (docs/webhooks.md):
 * - 200 `{received, eventId, eventType, outcome}` once the change is durable in Firestore (or
 *   there was nothing to change: unchanged, stale, duplicate, ignored);
 * - 401 bad, missing, malformed or stale signature; 400 a signed body that is not a valid event
 *   (`invalid_payload`) or dates the change too far in the future (`time_out_of_range`);
 *   413 a body over the limit; 422 a record Firestore cannot store. Nothing is written for any of
 *   them (but the rejection counter);
 * - 503 the event could not be stored (OfficeRnD delivers it again), or the route is not
 *   configured on this deployment.
 */

export const WEBHOOK_PATH = "/v1/office-rnd/webhook";
/** OfficeRnD's events are a few KB; 1 MB is Firestore's document limit anyway. */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576;

export interface WebhookSettings extends WebhookConfig {
  orphanPolicy: BackupConfig["orphanPolicy"];
}

/** The route's configuration, or why it has none (then it answers 503). */
export type WebhookSetup = { ok: true; settings: WebhookSettings } | { ok: false; reason: string };

/**
 * From OFFICERND_WEBHOOK_SECRET, OFFICERND_WEBHOOK_TOLERANCE_SECONDS and BACKUP_ORPHAN_POLICY.
 * A configuration error disables this route only: a status-only deployment needs no secret.
 */
export function loadWebhookSetup(source: ConfigSource = process.env): WebhookSetup {
  try {
    const webhook = loadWebhookConfig(source);
    const backup = loadBackupConfig(source);
    return { ok: true, settings: { ...webhook, orphanPolicy: backup.orphanPolicy } };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, reason: error.message };
    throw error;
  }
}

export interface WebhookRouteDeps {
  db: Firestore;
  setup: WebhookSetup;
  now?: () => Date;
  /** Refused deliveries are counted in at most one write this often (default 2 s; tests: 0). */
  rejectionFlushMs?: number;
  /** Larger bodies answer 413 (default 1 MB). */
  maxBodyBytes?: number;
  /**
   * Longest wait for the event's transaction (default 25 s, inside the `api` function's 60 s):
   * past it the answer is 503 and OfficeRnD delivers again. Should the transaction still commit,
   * that redelivery is a duplicate, which is harmless.
   */
  storeTimeoutMs?: number;
}

export const DEFAULT_STORE_TIMEOUT_MS = 25_000;

const SIGNATURE_MESSAGES: Record<Exclude<SignatureCheck, { ok: true }>["reason"], string> = {
  missing_signature: `missing ${SIGNATURE_HEADER} header`,
  malformed_signature: `malformed ${SIGNATURE_HEADER} header: expected t=<unix seconds>,signature=<hex>`,
  bad_signature: "the signature does not match the body",
  stale_timestamp: "the signature's timestamp is outside the accepted window",
};

class BodyError extends Error {
  constructor(readonly tooLarge: boolean) {
    super(tooLarge ? "body too large" : "body unreadable");
  }
}

/**
 * The body's bytes exactly as received. In Cloud Functions the runtime has already read (and
 * parsed) the body and keeps the bytes as `req.rawBody`; elsewhere (CLI `serve`, tests) they are
 * read here, with the size limit applied while reading.
 */
function rawBody(
  req: Request,
  res: Response,
  parser: RequestHandler,
  maxBytes: number,
): Promise<Buffer> {
  const pre: unknown = (req as Request & { rawBody?: unknown }).rawBody;
  if (Buffer.isBuffer(pre)) {
    return pre.length > maxBytes ? Promise.reject(new BodyError(true)) : Promise.resolve(pre);
  }
  return new Promise((resolve, reject) => {
    void parser(req, res, (error?: unknown) => {
      if (error !== undefined && error !== null) {
        const status = (error as { status?: unknown }).status;
        reject(new BodyError(status === 413));
        return;
      }
      const body: unknown = req.body;
      resolve(Buffer.isBuffer(body) ? body : Buffer.alloc(0));
    });
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

type ParsedDelivery =
  | { ok: true; envelope: WebhookEnvelope; change: WebhookChange }
  | {
      ok: false;
      problem: string;
      reason: PayloadProblem;
      envelope: WebhookEnvelope | null;
    };

/** The signed body as an event (UTF-8 JSON, the envelope, the record for mirrored types). */
function parseDelivery(body: Buffer, now: Date): ParsedDelivery {
  let text: string;
  try {
    // Decoding drops a leading BOM; the signature was checked on the bytes before this.
    text = utf8.decode(body);
  } catch {
    return {
      ok: false,
      problem: "the body is not UTF-8",
      reason: "invalid_payload",
      envelope: null,
    };
  }
  let envelope: WebhookEnvelope;
  try {
    envelope = parseEnvelope(text);
  } catch (error) {
    if (error instanceof WebhookPayloadError) {
      return { ok: false, problem: error.message, reason: error.reason, envelope: null };
    }
    throw error;
  }
  try {
    return { ok: true, envelope, change: interpretEvent(envelope, now) };
  } catch (error) {
    if (error instanceof WebhookPayloadError) {
      return { ok: false, problem: error.message, reason: error.reason, envelope };
    }
    throw error;
  }
}

const PAYLOAD_MESSAGES: Record<PayloadProblem, string> = {
  invalid_payload: "not a valid OfficeRnD event",
  time_out_of_range: "an event time is out of the accepted range",
};

export function webhookRoute(deps: WebhookRouteDeps): RouteDefinition {
  const maxBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const storeTimeoutMs = deps.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  const parser = express.raw({ type: () => true, limit: maxBytes });
  const clock = deps.now ?? (() => new Date());
  const { db, setup } = deps;

  const handler: RequestHandler = async (req, res) => {
    const started = performance.now();
    const { requestId } = requestContext(req);
    if (!setup.ok) {
      logs.webhookUnavailable({ reason: setup.reason, requestId });
      sendError(
        res,
        503,
        "webhook_not_configured",
        `the webhook is not configured on this deployment (${setup.reason})`,
      );
      return;
    }
    const { settings } = setup;
    const now = clock();
    let bodyBytes: number | null = null;
    const reject = async (
      status: number,
      code: string,
      message: string,
      reason: RejectionReason,
      extra: {
        signedAt?: number;
        skewSeconds?: number;
        detail?: string;
        eventId?: string;
        eventType?: string;
      } = {},
    ) => {
      logs.webhookRejected({ reason, status, requestId, bodyBytes, ...extra });
      await countRejection(db, { reason, at: now }, deps.rejectionFlushMs);
      sendError(res, status, code, message);
    };

    let body: Buffer;
    try {
      body = await rawBody(req, res, parser, maxBytes);
    } catch (error) {
      if (error instanceof BodyError && error.tooLarge) {
        await reject(
          413,
          "payload_too_large",
          `the body exceeds ${maxBytes} bytes`,
          "payload_too_large",
        );
      } else {
        await reject(400, "invalid_request", "the body could not be read", "unreadable_body");
      }
      return;
    }
    bodyBytes = body.length;

    const check = verifySignature({
      header: req.headers[SIGNATURE_HEADER],
      body,
      secret: settings.secret,
      toleranceSeconds: settings.toleranceSeconds,
      now,
    });
    if (!check.ok) {
      await reject(401, "unauthorized", SIGNATURE_MESSAGES[check.reason], check.reason, {
        ...(check.signedAt !== undefined ? { signedAt: check.signedAt } : {}),
        ...(check.skewSeconds !== undefined ? { skewSeconds: check.skewSeconds } : {}),
      });
      return;
    }

    const parsed = parseDelivery(body, now);
    if (!parsed.ok) {
      await reject(
        400,
        parsed.reason,
        `${PAYLOAD_MESSAGES[parsed.reason]}: ${parsed.problem}`,
        parsed.reason,
        {
          detail: parsed.problem,
          ...(parsed.envelope
            ? { eventId: parsed.envelope.event, eventType: parsed.envelope.eventType }
            : {}),
        },
      );
      return;
    }
    const { envelope, change } = parsed;
    const { event: eventId, eventType } = envelope;
    let outcome: WebhookOutcome | "duplicate";
    let removal: string | null = null;
    try {
      const result = await within(
        applyWebhookEvent(db, envelope, change, { orphanPolicy: settings.orphanPolicy, now }),
        storeTimeoutMs,
      );
      outcome = result.outcome;
      if (result.outcome !== "duplicate") removal = result.removal;
    } catch (error) {
      if (error instanceof UnstorableRecordError) {
        await reject(
          422,
          "unstorable_record",
          `Firestore cannot store this record: ${error.reason}`,
          "unstorable_record",
          { detail: error.reason, eventId, eventType },
        );
        return;
      }
      logs.webhookFailed({
        eventId,
        eventType,
        requestId,
        error: error instanceof Error ? error.message.slice(0, 300) : "non-Error thrown",
      });
      sendError(res, 503, "not_stored", "the event could not be stored; deliver it again", {
        requestId,
      });
      return;
    }

    await countDelivery(db, { eventType, duplicate: outcome === "duplicate", at: now });
    const durationMs = Math.round((performance.now() - started) * 100) / 100;
    if (change.kind === "ignored") {
      logs.webhookIgnored({
        eventId,
        eventType,
        duplicate: outcome === "duplicate",
        durationMs,
        requestId,
      });
    } else {
      logs.webhookProcessed({
        eventId,
        eventType,
        outcome,
        resource: change.resource,
        recordId: change.kind === "upsert" ? change.record._id : change.id,
        removal,
        durationMs,
        requestId,
      });
    }
    res.status(200).json({ received: true, eventId, eventType, outcome });
  };

  return { path: WEBHOOK_PATH, methods: { POST: [handler] } };
}
