import { randomUUID } from "node:crypto";
import functionsTest from "firebase-functions-test";
import { getFirestore } from "firebase-admin/firestore";
import { startSandbox, type Sandbox } from "../../dev/sandbox";
import { backupMetadataSchema } from "../../src/backup/documents";
import { readBackupError, readBackupRuns } from "../../src/backup/metadata";
import { closeDefaultApp, defaultApp } from "../../src/firebase";
import { officeRndDataBackup, officeRndIncrementalSync } from "../../src/index";

/**
 * The deployed officeRndIncrementalSync definition: its schedule and options, and its `.run()`
 * (firebase-functions-test) against the Firestore emulator and the sandbox, configured through
 * environment variables as the params are at runtime.
 */

const fft = functionsTest();
let sandbox: Sandbox;
const saved = { ...process.env };
const tick = () => ({ scheduleTime: new Date().toISOString(), jobName: "test" });

beforeAll(async () => {
  sandbox = await startSandbox({ readsPerMinute: null, tokenRequestsPerMinute: null });
  Object.assign(process.env, sandbox.env(), {
    GCLOUD_PROJECT: `demo-inc-${randomUUID().slice(0, 8)}`,
  });
});

afterAll(async () => {
  fft.cleanup();
  await closeDefaultApp();
  await sandbox.close();
  process.env = saved;
});

const db = () => getFirestore(defaultApp());
const metadata = async () =>
  backupMetadataSchema.parse((await db().doc("officeRndMetadata/backup-metadata").get()).data());

describe("officeRndIncrementalSync (scheduled)", () => {
  it("is declared every 60 minutes in UTC, with its timeout, memory, retry and secret", () => {
    const endpoint = officeRndIncrementalSync.__endpoint;
    expect(endpoint.scheduleTrigger?.schedule).toBe("every 60 minutes");
    expect(endpoint.timeoutSeconds).toBe(540);
    expect(endpoint.availableMemoryMb).toBe(512);
    expect(endpoint.maxInstances).toBe(1);
    expect(endpoint.scheduleTrigger?.retryConfig?.retryCount).toBe(1);
    expect(endpoint.secretEnvironmentVariables?.map((s) => s.key)).toEqual([
      "OFFICERND_CLIENT_SECRET",
    ]);
  });

  it("after the full backup, writes the changed records and leaves the metadata as it was", async () => {
    await officeRndDataBackup.run(tick());
    const full = await metadata();
    const ids = sandbox.data.members.ids().slice(0, 2);
    for (const id of ids) sandbox.data.members.update(id, { description: `hourly ${id}` });

    await expect(officeRndIncrementalSync.run(tick())).resolves.toBeUndefined();

    const { runs } = await readBackupRuns(db(), 1, ["incremental"]);
    expect(runs[0]).toMatchObject({
      mode: "incremental",
      trigger: "schedule",
      status: "completed",
    });
    expect(runs[0]?.resources.members).toMatchObject({ changed: 2, written: 2 });
    for (const id of ids) {
      const doc = await db().doc(`officeRndMembers/${id}`).get();
      expect(doc.get("description")).toBe(`hourly ${id}`);
    }
    expect((await metadata()).runId).toBe(full.runId);
  });

  it("records a missing secret as a failed incremental run, leaving the metadata alone", async () => {
    const before = (await metadata()).runId;
    const secret = process.env.OFFICERND_CLIENT_SECRET;
    delete process.env.OFFICERND_CLIENT_SECRET;
    try {
      await expect(officeRndIncrementalSync.run(tick())).resolves.toBeUndefined();
    } finally {
      process.env.OFFICERND_CLIENT_SECRET = secret;
    }
    const { runs } = await readBackupRuns(db(), 1, ["incremental"]);
    expect(runs[0]).toMatchObject({
      mode: "incremental",
      status: "failed",
      errorCode: "config_error",
    });
    const error = await readBackupError(db(), runs[0]?.runId ?? "", "incremental");
    expect(error).toMatchObject({ functionName: "officeRndIncrementalSync", code: "config_error" });
    expect((await metadata()).runId).toBe(before);
  });
});
