import type { Express } from "express";
import { deleteApp, initializeApp, type App } from "firebase-admin/app";
import request from "supertest";
import { createApp, createFirebaseIdTokenVerifier, type IdTokenVerifier } from "../../src/http";
import { createTestFirestore, type TestFirestore } from "../harness/firestore";
import {
  fakeGoogleKeys,
  idToken,
  KEYS_PROJECT,
  STRANGER_KEY,
  type GoogleKeys,
} from "./google-keys";
import { STATUS_TOKEN, captureLogs } from "./helpers";

/**
 * Admin ID tokens checked by the real firebase-admin verifier while Google's token signing keys
 * cannot be fetched. The fault is injected where firebase-admin fetches them (./google-keys.ts):
 * a local key server refuses connections, never answers, or serves the keys. The app is the real
 * one on the emulator.
 */

const STATUS = "/v1/office-rnd/backup-status";

const logs = captureLogs();

let keys: GoogleKeys;
let fs: TestFirestore;
let admin: App;

beforeAll(async () => {
  keys = await fakeGoogleKeys();
  fs = createTestFirestore("http-auth");
  // The default app, which firebase-admin's getAuth() (the product's default verifier) uses.
  admin = initializeApp({ projectId: KEYS_PROJECT });
});

afterAll(async () => {
  await keys.close();
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
    keys.mode = "refuse";
    keys.fetches = 0;
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
    expect(keys.fetches).toBe(1);
    const logged = logs.entries.filter((e) => e.event === "http_auth_unavailable");
    expect(logged).toHaveLength(5);
    expect(String(logged[0]?.error)).toContain("ECONNREFUSED");
    for (const entry of logs.entries) expect(JSON.stringify(entry)).not.toContain(token);
  });

  it("no answer at all: 500 within the check's bound, then at once", async () => {
    keys.mode = "hang";
    keys.fetches = 0;
    const app = appWith(createFirebaseIdTokenVerifier({ timeoutMs: 1_500 }));
    const first = await get(app, idToken({ admin: true }));
    expect(first.res.status).toBe(500);
    expect((first.res.body as { error: { code: string } }).error.code).toBe("auth_unavailable");
    expect(first.ms).toBeGreaterThanOrEqual(1_400);
    expect(first.ms).toBeLessThan(3_000);
    const second = await get(app, idToken({ admin: true }));
    expect(second.res.status).toBe(500);
    expect(second.ms).toBeLessThan(500);
    expect(keys.fetches).toBe(1);
    // Let the held fetch end (firebase-admin does not retry a 500).
    keys.releaseHeld();
  });

  it("keys back: the first request after the pause verifies, later ones use firebase-admin's cache", async () => {
    keys.mode = "refuse";
    keys.fetches = 0;
    const app = appWith(createFirebaseIdTokenVerifier({ retryAfterMs: 500 }));
    const token = idToken({ admin: true });
    expect((await get(app, token)).res.status).toBe(500);
    keys.mode = "up";
    expect((await get(app, token)).res.status).toBe(500);
    expect(keys.fetches).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await get(app, token)).res.status).toBe(200);
    expect((await get(app, token)).res.status).toBe(200);
    expect(keys.fetches).toBe(2);
  });
});

describe("with the keys at hand, a bad token is still the caller's problem", () => {
  it.each([
    ["signed by another key", () => idToken({ admin: true }, STRANGER_KEY), "argument-error"],
    ["expired", () => idToken({ admin: true }, undefined, -60), "id-token-expired"],
    ["for another project", () => idToken({ admin: true, aud: "demo-other" }), "argument-error"],
  ])("%s: 401", async (_label, make, code) => {
    keys.mode = "up";
    const { res } = await get(appWith(createFirebaseIdTokenVerifier()), make());
    expect(res.status).toBe(401);
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="office-rnd"');
    const rejected = logs.entries.filter((e) => e.event === "http_auth_rejected").at(-1);
    expect(rejected?.reason).toBe(`id_token_rejected:auth/${code}`);
  });

  it("a valid token without the admin claim: 401; with it: 200", async () => {
    keys.mode = "up";
    const app = appWith(createFirebaseIdTokenVerifier());
    expect((await get(app, idToken({}))).res.status).toBe(401);
    expect((await get(app, idToken({ admin: true }))).res.status).toBe(200);
  });
});
