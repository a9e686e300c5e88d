import { randomUUID } from "node:crypto";
import express from "express";
import functionsTest from "firebase-functions-test";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import type { Request as TaskRequest } from "firebase-functions/v2/tasks";
import request from "supertest";
import { backupMetadataSchema, errorDocSchema } from "../../src/backup/documents";
import { closeDefaultApp, defaultApp } from "../../src/firebase";
import { api, officeRndBackupNow, officeRndBackupTask, officeRndDataBackup } from "../../src/index";
import { onLogEntry, type LogEntry } from "../../src/logs";

/**
 * A missing or malformed param or secret, as the deployed functions meet it: each run is recorded
 * as a failed run (`config_error`: metadata, history, /errors, log entries naming the variable),
 * and the `api` function answers JSON 503 `config_error` on every route. Against the real
 * Firestore emulator; no OfficeRnD is needed, since nothing is read.
 */

const fft = functionsTest();
const saved = { ...process.env };
/** Part of a malformed value: no record, answer or log entry may contain it. */
const MARKER = "value-that-must-not-leak-7f3a";
let db: Firestore;
let entries: LogEntry[];
let stopListening: () => void;

beforeAll(() => {
  Object.assign(process.env, {
    GCLOUD_PROJECT: `demo-cfg-${randomUUID().slice(0, 8)}`,
    OFFICERND_ORG_SLUG: "sandbox-org",
    OFFICERND_CLIENT_ID: "sandbox-client",
    // OFFICERND_CLIENT_SECRET and BACKUP_STATUS_TOKEN unset: missing secrets.
  });
  delete process.env.OFFICERND_CLIENT_SECRET;
  delete process.env.BACKUP_STATUS_TOKEN;
  db = getFirestore(defaultApp());
  entries = [];
  stopListening = onLogEntry((entry) => entries.push(entry));
});

afterAll(async () => {
  stopListening();
  fft.cleanup();
  await closeDefaultApp();
  process.env = saved;
});

beforeEach(() => {
  entries.length = 0;
});

async function latestMetadata() {
  return backupMetadataSchema.parse(
    (await db.doc("officeRndMetadata/backup-metadata").get()).data(),
  );
}

async function errorDoc(runId: string) {
  return errorDocSchema.parse((await db.doc(`errors/officeRndDataBackup-${runId}`).get()).data());
}

function entry(event: string): LogEntry | undefined {
  return entries.find((e) => e.event === event);
}

describe("a run from a deployed function with a missing or malformed param or secret", () => {
  it("scheduled: records a failed run naming the missing secret, and returns (no retry)", async () => {
    await expect(
      officeRndDataBackup.run({ scheduleTime: new Date().toISOString(), jobName: "test" }),
    ).resolves.toBeUndefined();

    const metadata = await latestMetadata();
    expect(metadata).toMatchObject({
      status: "failed",
      trigger: "schedule",
      errorCode: "config_error",
      errorRetryable: false,
      inSync: false,
    });
    expect(metadata.error).toBe(
      "configuration error: OFFICERND_CLIENT_SECRET is required (the OfficeRnD application client secret)",
    );
    const history = await db.doc(`officeRndMetadata/backup-metadata/runs/${metadata.runId}`).get();
    expect(history.get("errorCode")).toBe("config_error");
    expect(await errorDoc(metadata.runId)).toMatchObject({
      functionName: "officeRndDataBackup",
      code: "config_error",
      trigger: "schedule",
      message: metadata.error,
    });

    expect(entry("config_error")).toMatchObject({
      severity: "ERROR",
      variable: "OFFICERND_CLIENT_SECRET",
      functionName: "officeRndDataBackup",
      runId: metadata.runId,
    });
    expect(entry("backup_summary")).toMatchObject({ status: "failed", errorCode: "config_error" });
    expect(entry("backup_failed")).toMatchObject({ code: "config_error" });
  });

  it("task queue: records the failure under the enqueued run id, never the malformed value", async () => {
    process.env.OFFICERND_CLIENT_SECRET = "client-secret-for-tests";
    process.env.OFFICERND_API_URL = `ftp://${MARKER}`;
    try {
      const runId = `20261201T120000000Z-${randomUUID().slice(0, 6)}`;
      await officeRndBackupTask.run({
        data: { runId, trigger: "manual" },
      } as unknown as TaskRequest<unknown>);

      const run = backupMetadataSchema.parse(
        (await db.doc(`officeRndMetadata/backup-metadata/runs/${runId}`).get()).data(),
      );
      expect(run).toMatchObject({ status: "failed", errorCode: "config_error" });
      expect(run.error).toBe("configuration error: OFFICERND_API_URL must be an http(s) URL");
      const stored = JSON.stringify([run, await errorDoc(runId), entries]);
      expect(stored).not.toContain(MARKER);
      expect(entry("config_error")).toMatchObject({
        variable: "OFFICERND_API_URL",
        functionName: "officeRndBackupTask",
        runId,
      });
    } finally {
      delete process.env.OFFICERND_CLIENT_SECRET;
      delete process.env.OFFICERND_API_URL;
    }
  });

  it("callable: answers the failed run to the admin", async () => {
    const call = fft.wrap(officeRndBackupNow);
    const result = (await call({
      data: {},
      auth: { uid: "admin1", token: { uid: "admin1", admin: true } },
    } as never)) as { status: string; runId: string; error: { code: string; message: string } };
    expect(result.status).toBe("failed");
    expect(result.error.code).toBe("config_error");
    expect(result.error.message).toContain("OFFICERND_CLIENT_SECRET");
    expect((await latestMetadata()).runId).toBe(result.runId);
  });
});

describe("the api function with a missing or malformed param or secret", () => {
  // The function as Cloud Run hands it requests (with the raw body firebase-functions adds).
  const host = express();
  host.use((req, res) => {
    void api(Object.assign(req, { rawBody: Buffer.alloc(0) }), res);
  });

  it("logs config_error, naming the variable, once: when the first request builds the app", async () => {
    await request(host).get("/v1/office-rnd/backup-status");
    expect(entries.filter((e) => e.event === "config_error")).toEqual([
      expect.objectContaining({
        severity: "ERROR",
        variable: "BACKUP_STATUS_TOKEN",
        functionName: "api",
      }),
    ]);
    entries.length = 0;
    await request(host).get("/v1/office-rnd/backup-status");
    expect(entry("config_error")).toBeUndefined();
  });

  it.each([
    ["GET", "/v1/office-rnd/backup-status"],
    ["GET", "/v1/office-rnd/backups"],
    ["POST", "/v1/office-rnd/backup"],
    ["POST", "/v1/office-rnd/webhook"],
    ["GET", "/no/such/route"],
  ])("answers %s %s with JSON 503 config_error naming the variable", async (method, path) => {
    const res = await request(host)
      [method === "GET" ? "get" : "post"](path)
      .set("Authorization", `Bearer ${MARKER}`);
    expect(res.status).toBe(503);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(res.body).toEqual({
      error: {
        code: "config_error",
        message: "BACKUP_STATUS_TOKEN is required (the bearer token the status endpoint requires)",
        variable: "BACKUP_STATUS_TOKEN",
      },
    });
    expect(JSON.stringify(entries)).not.toContain(MARKER);
    expect(entry("http_request")).toMatchObject({ status: 503, method });
  });
});
