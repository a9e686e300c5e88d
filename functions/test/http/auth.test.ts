import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { Express } from "express";
import { deleteApp, initializeApp, type App } from "firebase-admin/app";
import request from "supertest";
import { createApp, createFirebaseIdTokenVerifier, type IdTokenVerifier } from "../../src/http";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import { STATUS_TOKEN, captureLogs } from "./helpers";

/**
 * Admin ID tokens checked by the real firebase-admin verifier while Google's token signing keys
 * cannot be fetched. The fault is injected where firebase-admin fetches them: its https request
 * to www.googleapis.com goes to a local key server instead, which refuses connections, never
 * answers, or serves this file's own public key. The app is the real one on the emulator.
 */

const STATUS = "/v1/office-rnd/backup-status";
const PROJECT = "demo-auth-keys";
const KID = "test-key-1";

const logs = captureLogs();

const signing = generateKeyPairSync("rsa", { modulusLength: 2048 });
const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 });
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An ID token as Firebase Auth issues it (RS256, `kid`, the project's issuer and audience). */
function idToken(
  claims: Record<string, unknown>,
  key: KeyObject = signing.privateKey,
  lifetimeS = 3_600,
): string {
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: "RS256", kid: KID, typ: "JWT" })}.${b64({
    iss: `https://securetoken.google.com/${PROJECT}`,
    aud: PROJECT,
    sub: "admin-uid",
    iat: now - 60,
    auth_time: now - 60,
    exp: now + lifetimeS,
    ...claims,
  })}`;
  return `${body}.${sign("sha256", Buffer.from(body), key).toString("base64url")}`;
}

type KeyServerMode = "refuse" | "hang" | "up";
let mode: KeyServerMode = "refuse";
let keyFetches = 0;
const held: http.ServerResponse[] = [];
const keyServer = http.createServer((_req, res) => {
  if (mode === "hang") {
    held.push(res);
    return;
  }
  res.writeHead(200, {
    "Content-Type": "application/json",
    "Cache-Control": "public, max-age=3600",
  });
  res.end(JSON.stringify({ [KID]: signing.publicKey.export({ type: "spki", format: "pem" }) }));
});
/** A port nothing listens on: connection refused. */
let closedPort = 0;

const realRequest = https.request.bind(https);
let fs: TestFirestore;
let admin: App;

beforeAll(async () => {
  await new Promise<void>((resolve) => keyServer.listen(0, "127.0.0.1", resolve));
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));

  jest.spyOn(https, "request").mockImplementation((options: unknown, callback: unknown) => {
    const target = options as https.RequestOptions;
    if (target.hostname !== "www.googleapis.com") {
      return (realRequest as (o: unknown, c: unknown) => http.ClientRequest)(options, callback);
    }
    keyFetches += 1;
    const port = mode === "refuse" ? closedPort : (keyServer.address() as AddressInfo).port;
    return http.request(
      { ...target, protocol: "http:", hostname: "127.0.0.1", port, agent: undefined },
      callback as (res: http.IncomingMessage) => void,
    );
  });

  fs = createTestFirestore("http-auth");
  // The default app, which firebase-admin's getAuth() (the product's default verifier) uses.
  admin = initializeApp({ projectId: PROJECT });
});

afterAll(async () => {
  jest.restoreAllMocks();
  for (const res of held) res.destroy();
  keyServer.closeAllConnections();
  await new Promise((resolve) => keyServer.close(resolve));
  logs.stop();
  await deleteApp(admin);
  await fs.close();
});

function appWith(verifyIdToken?: IdTokenVerifier): Express {
  return createApp({
    db: fs.db,
    status: { statusToken: STATUS_TOKEN, missingAlertThreshold: 10 },
    ...(verifyIdToken ? { verifyIdToken } : {}),
  });
}

async function get(app: Express, token: string) {
  const started = performance.now();
  const res = await request(app).get(STATUS).set("Authorization", `Bearer ${token}`);
  return { res, ms: performance.now() - started };
}

describe("Google's signing keys cannot be fetched", () => {
  it("connection refused: 500 auth_unavailable (not 401), fetched once for many requests", async () => {
    mode = "refuse";
    keyFetches = 0;
    // The product's default verifier (createApp without verifyIdToken).
    const app = appWith();
    const token = idToken({ admin: true });
    for (let i = 0; i < 5; i++) {
      const { res, ms } = await get(app, token);
      // Before: 401 unauthorized (firebase-admin calls a failed key fetch auth/argument-error).
      expect(res.status).toBe(500);
      expect(res.body).toEqual({
        error: {
          code: "auth_unavailable",
          message: expect.stringContaining("cannot be checked right now") as string,
          requestId: res.headers["x-request-id"] as string,
        },
      });
      expect(res.headers["www-authenticate"]).toBeUndefined();
      expect(ms).toBeLessThan(2_000);
    }
    // Before: one fetch per request. Now the failure is remembered (30 s).
    expect(keyFetches).toBe(1);
    const logged = logs.entries.filter((e) => e.event === "http_auth_unavailable");
    expect(logged).toHaveLength(5);
    expect(String(logged[0]?.error)).toContain("ECONNREFUSED");
    for (const entry of logs.entries) expect(JSON.stringify(entry)).not.toContain(token);
  });

  it("no answer at all: 500 within the check's bound, then at once", async () => {
    mode = "hang";
    keyFetches = 0;
    const app = appWith(createFirebaseIdTokenVerifier({ timeoutMs: 1_500 }));
    const first = await get(app, idToken({ admin: true }));
    expect(first.res.status).toBe(500);
    expect((first.res.body as { error: { code: string } }).error.code).toBe("auth_unavailable");
    expect(first.ms).toBeGreaterThanOrEqual(1_400);
    expect(first.ms).toBeLessThan(3_000);
    const second = await get(app, idToken({ admin: true }));
    expect(second.res.status).toBe(500);
    expect(second.ms).toBeLessThan(500);
    expect(keyFetches).toBe(1);
    // Let the held fetch end (firebase-admin does not retry a 500).
    for (const res of held.splice(0)) res.writeHead(500).end("{}");
  });

  it("keys back: the first request after the pause verifies, later ones use firebase-admin's cache", async () => {
    mode = "refuse";
    keyFetches = 0;
    const app = appWith(createFirebaseIdTokenVerifier({ retryAfterMs: 500 }));
    const token = idToken({ admin: true });
    expect((await get(app, token)).res.status).toBe(500);
    mode = "up";
    expect((await get(app, token)).res.status).toBe(500);
    expect(keyFetches).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await get(app, token)).res.status).toBe(200);
    expect((await get(app, token)).res.status).toBe(200);
    expect(keyFetches).toBe(2);
  });
});

describe("with the keys at hand, a bad token is still the caller's problem", () => {
  it.each([
    [
      "signed by another key",
      () => idToken({ admin: true }, stranger.privateKey),
      "argument-error",
    ],
    ["expired", () => idToken({ admin: true }, signing.privateKey, -60), "id-token-expired"],
    ["for another project", () => idToken({ admin: true, aud: "demo-other" }), "argument-error"],
  ])("%s: 401", async (_label, make, code) => {
    mode = "up";
    const { res } = await get(appWith(createFirebaseIdTokenVerifier()), make());
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="office-rnd"');
    const rejected = logs.entries.filter((e) => e.event === "http_auth_rejected").at(-1);
    expect(rejected?.reason).toBe(`id_token_rejected:auth/${code}`);
  });

  it("a valid token without the admin claim: 401; with it: 200", async () => {
    mode = "up";
    const app = appWith(createFirebaseIdTokenVerifier());
    expect((await get(app, idToken({}))).res.status).toBe(401);
    expect((await get(app, idToken({ admin: true }))).res.status).toBe(200);
  });
});
