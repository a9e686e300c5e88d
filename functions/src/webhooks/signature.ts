import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * OfficeRnD's webhook signature: `officernd-signature: t=<unix seconds>,signature=<hex>`, where
 * signature = HMAC-SHA256(secret, rawBody + "." + t) over the bytes exactly as received.
 */

export const SIGNATURE_HEADER = "officernd-signature";

/** Longest header accepted (a real one is about 80 characters). */
const MAX_HEADER_LENGTH = 1024;
/** A header may carry a few signatures (e.g. while a secret is being rotated); any may match. */
const MAX_SIGNATURES = 5;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const UNIX_SECONDS = /^\d{1,12}$/;

export interface ParsedSignature {
  timestamp: number;
  /** `t` exactly as sent: the HMAC covers this text (leading zeros included). */
  timestampText: string;
  signatures: Buffer[];
}

export type SignatureCheck =
  | { ok: true; timestamp: number }
  | {
      ok: false;
      reason: "missing_signature" | "malformed_signature" | "bad_signature" | "stale_timestamp";
      /** Stale only: the signed timestamp, and now minus it, in seconds. */
      signedAt?: number;
      skewSeconds?: number;
    };

/** Parses the header; null when it is not `t=<digits>,signature=<64 hex>[,…]`. */
export function parseSignatureHeader(header: string): ParsedSignature | null {
  if (header.length > MAX_HEADER_LENGTH) return null;
  let timestampText: string | null = null;
  const signatures: Buffer[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq === -1) return null;
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      if (timestampText !== null || !UNIX_SECONDS.test(value)) return null;
      timestampText = value;
    } else if (key === "signature") {
      if (!SHA256_HEX.test(value) || signatures.length >= MAX_SIGNATURES) return null;
      signatures.push(Buffer.from(value, "hex"));
    }
    // Other keys are ignored (room for a future scheme next to this one).
  }
  if (timestampText === null || signatures.length === 0) return null;
  return { timestamp: Number(timestampText), timestampText, signatures };
}

/** HMAC-SHA256(secret, body + "." + t), as bytes. */
export function computeSignature(secret: string, body: Buffer, timestampText: string): Buffer {
  return createHmac("sha256", secret).update(body).update(`.${timestampText}`, "utf8").digest();
}

/**
 * Checks a delivery: the header's shape, then the signature (constant-time, against every
 * signature the header carries), then the timestamp's distance from now. The timestamp is checked
 * last so that `stale_timestamp` is only ever said of a delivery OfficeRnD really signed.
 */
export function verifySignature(input: {
  header: string | string[] | undefined;
  body: Buffer;
  secret: string;
  toleranceSeconds: number;
  now: Date;
}): SignatureCheck {
  const { header } = input;
  if (header === undefined || (typeof header === "string" && header.trim() === "")) {
    return { ok: false, reason: "missing_signature" };
  }
  // Node joins a repeated header into one value (two `t=` then fail to parse); only set-cookie
  // arrives as an array, but the type allows it: not a signature either way.
  if (typeof header !== "string") return { ok: false, reason: "malformed_signature" };
  const parsed = parseSignatureHeader(header);
  if (parsed === null) return { ok: false, reason: "malformed_signature" };

  const expected = computeSignature(input.secret, input.body, parsed.timestampText);
  let matched = false;
  for (const candidate of parsed.signatures) {
    // Every candidate is compared (no early exit), each in constant time; all are 32 bytes.
    if (timingSafeEqual(candidate, expected)) matched = true;
  }
  if (!matched) return { ok: false, reason: "bad_signature" };

  const skewSeconds = Math.round(input.now.getTime() / 1000 - parsed.timestamp);
  if (Math.abs(skewSeconds) > input.toleranceSeconds) {
    return { ok: false, reason: "stale_timestamp", signedAt: parsed.timestamp, skewSeconds };
  }
  return { ok: true, timestamp: parsed.timestamp };
}
