import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";

/**
 * Google's token signing keys, played locally for the real firebase-admin verifier: its https
 * request to www.googleapis.com goes to a local key server instead, which refuses connections,
 * never answers, or serves this file's own public key. ID tokens are signed as Firebase Auth
 * signs them, for KEYS_PROJECT (the default app's project in the tests that use this).
 */

export const KEYS_PROJECT = "demo-auth-keys";
const KID = "test-key-1";

const signing = generateKeyPairSync("rsa", { modulusLength: 2048 });
/** A key Google never published: tokens signed with it are forged. */
export const STRANGER_KEY = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An ID token as Firebase Auth issues it (RS256, `kid`, the project's issuer and audience). */
export function idToken(
  claims: Record<string, unknown>,
  key: KeyObject = signing.privateKey,
  lifetimeS = 3_600,
): string {
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: "RS256", kid: KID, typ: "JWT" })}.${b64({
    iss: `https://securetoken.google.com/${KEYS_PROJECT}`,
    aud: KEYS_PROJECT,
    sub: "admin-uid",
    iat: now - 60,
    auth_time: now - 60,
    exp: now + lifetimeS,
    ...claims,
  })}`;
  return `${body}.${sign("sha256", Buffer.from(body), key).toString("base64url")}`;
}

export type KeyServerMode = "refuse" | "hang" | "up";

export interface GoogleKeys {
  /** What the next key fetch meets: connection refused, no answer, or the keys. */
  mode: KeyServerMode;
  /** Key fetches so far (reset it freely). */
  fetches: number;
  /** Ends the fetches held in `hang` mode (with a 500, which firebase-admin does not retry). */
  releaseHeld(): void;
  close(): Promise<void>;
}

/** Starts the key server and sends firebase-admin's key fetches to it (until `close`). */
export async function fakeGoogleKeys(): Promise<GoogleKeys> {
  const held: http.ServerResponse[] = [];
  const keys: GoogleKeys = {
    mode: "refuse",
    fetches: 0,
    releaseHeld() {
      for (const res of held.splice(0)) res.writeHead(500).end("{}");
    },
    close: async () => {
      spy.mockRestore();
      for (const res of held.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server = http.createServer((_req, res) => {
    if (keys.mode === "hang") {
      held.push(res);
      return;
    }
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Cache-Control": "public, max-age=3600",
    });
    res.end(JSON.stringify({ [KID]: signing.publicKey.export({ type: "spki", format: "pem" }) }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  // A port nothing listens on: connection refused.
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));

  const realRequest = https.request.bind(https);
  const spy = jest.spyOn(https, "request").mockImplementation((options: unknown, callback) => {
    const target = options as https.RequestOptions;
    if (target.hostname !== "www.googleapis.com") {
      return (realRequest as (o: unknown, c: unknown) => http.ClientRequest)(options, callback);
    }
    keys.fetches += 1;
    const port = keys.mode === "refuse" ? closedPort : (server.address() as AddressInfo).port;
    return http.request(
      { ...target, protocol: "http:", hostname: "127.0.0.1", port, agent: undefined },
      callback as (res: http.IncomingMessage) => void,
    );
  });
  return keys;
}
