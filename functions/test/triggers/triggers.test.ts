import { RESOURCE_NAMES } from "../../src/officernd/resources";
import { randomUUID } from "node:crypto";
import functionsTest from "firebase-functions-test";
import { getFirestore } from "firebase-admin/firestore";
import { startSandbox, type Sandbox } from "../../dev/sandbox";
import { closeDefaultApp, defaultApp } from "../../src/firebase";
import { officeRndBackupNow, officeRndDataBackup } from "../../src/index";
import { backupMetadataSchema } from "../../src/backup/documents";

/**
 * The deployed function definitions themselves: the scheduled function's `.run()` and the
 * callable wrapped by firebase-functions-test, against the real emulator and the sandbox,
 * configured through environment variables as the params are at runtime.
 */

const fft = functionsTest();
let sandbox: Sandbox;
const saved = { ...process.env };

beforeAll(async () => {
  sandbox = await startSandbox({ readsPerMinute: null, tokenRequestsPerMinute: null });
  Object.assign(process.env, sandbox.env(), {
    GCLOUD_PROJECT: `demo-fn-${randomUUID().slice(0, 8)}`,
    BACKUP_STATUS_TOKEN: "status-token-for-tests-0123456789",
  });
});

afterAll(async () => {
  fft.cleanup();
  await closeDefaultApp();
  await sandbox.close();
  process.env = saved;
});

function metadataDoc() {
  return getFirestore(defaultApp()).doc("officeRndMetadata/backup-metadata").get();
}

describe("officeRndDataBackup (scheduled)", () => {
  it("is declared every 24 hours in UTC, with its timeout, memory, retries and secret", () => {
    const endpoint = officeRndDataBackup.__endpoint;
    expect(endpoint.scheduleTrigger?.schedule).toBe("every 24 hours");
    // The longest a scheduled function may run; a longer run goes on in a continuation.
    expect(endpoint.timeoutSeconds).toBe(1_800);
    expect(endpoint.availableMemoryMb).toBe(512);
    expect(endpoint.scheduleTrigger?.retryConfig?.retryCount).toBe(2);
    // The OfficeRnD client secret, and the Slack webhook URL for the notifications after a run.
    expect(endpoint.secretEnvironmentVariables?.map((s) => s.key)).toEqual([
      "OFFICERND_CLIENT_SECRET",
      "BACKUP_SLACK_WEBHOOK_URL",
    ]);
  });

  it("runs a backup that mirrors OfficeRnD into Firestore and records completed metadata", async () => {
    await officeRndDataBackup.run({ scheduleTime: new Date().toISOString(), jobName: "test" });
    const snap = await metadataDoc();
    const metadata = backupMetadataSchema.parse(snap.data());
    expect(metadata.status).toBe("completed");
    expect(metadata.trigger).toBe("schedule");
    expect(metadata.apiMembers).toBe(sandbox.data.members.size);
    const counts = sandbox.data.counts();
    expect(metadata.missingRecords).toBe(RESOURCE_NAMES.reduce((sum, n) => sum + counts[n], 0));
  });

  it("rethrows a transient failure so Cloud Scheduler retries, and records it", async () => {
    sandbox.setFault({ kind: "5xx", resource: "companies" });
    try {
      await expect(
        officeRndDataBackup.run({ scheduleTime: new Date().toISOString(), jobName: "test" }),
      ).rejects.toThrow(/Cloud Scheduler will retry/);
    } finally {
      sandbox.clearFaults();
    }
    const metadata = backupMetadataSchema.parse((await metadataDoc()).data());
    expect(metadata.status).toBe("failed");
    expect(metadata.errorCode).toBe("server");
  }, 120_000);

  it("returns normally on a failure a retry cannot fix (shrink guard)", async () => {
    const companies = sandbox.data.companies.all();
    sandbox.data.companies.set([]);
    try {
      await expect(
        officeRndDataBackup.run({ scheduleTime: new Date().toISOString(), jobName: "test" }),
      ).resolves.toBeUndefined();
    } finally {
      sandbox.data.companies.set([...companies]);
    }
    const metadata = backupMetadataSchema.parse((await metadataDoc()).data());
    expect(metadata.status).toBe("failed");
    expect(metadata.errorCode).toBe("shrink_guard");
  });
});

describe("officeRndBackupNow (callable)", () => {
  const call = fft.wrap(officeRndBackupNow);

  it("refuses a caller who is not signed in", async () => {
    await expect(call({ data: {} } as never)).rejects.toMatchObject({ code: "unauthenticated" });
  });

  it("refuses a signed-in user without the admin claim", async () => {
    await expect(
      call({ data: {}, auth: { uid: "u1", token: { uid: "u1" } } } as never),
    ).rejects.toMatchObject({ code: "permission-denied" });
  });

  it("runs a backup for an admin and answers its summary", async () => {
    const result = (await call({
      data: {},
      auth: { uid: "admin1", token: { uid: "admin1", admin: true } },
    } as never)) as { status: string; runId: string; written: number; inSync: boolean };
    expect(result.status).toBe("completed");
    expect(result.inSync).toBe(true);
    const metadata = backupMetadataSchema.parse((await metadataDoc()).data());
    expect(metadata.runId).toBe(result.runId);
    expect(metadata.trigger).toBe("manual");
  });
});
