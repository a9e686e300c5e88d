import { DASHBOARD_CSP } from "../../src/http/dashboard";
import { deleteApp, initializeApp, type App } from "firebase-admin/app";
import { getAuth } from "firebase-admin/auth";
import { getFirestore, type Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import { startSandbox, type Sandbox } from "../../dev/sandbox";
import { startEmulatorSuite } from "../../dev/emulator-suite";
import type { GuardedProcess } from "../../dev/guarded-process";
import { backupMetadataSchema } from "../../src/backup/documents";
import { RESOURCE_NAMES, RESOURCES } from "../../src/officernd/resources";
import { copyProject, EMULATORS_USERS_NEED, type ProjectCopy } from "./project";

/**
 * The product under the real Firebase CLI: firebase-tools (the pinned 14.x, which runs on Java 17)
 * starts the emulators firebase.json declares for a copy of this project, with the local OfficeRnD
 * sandbox standing in for OfficeRnD. Then, as a user would: fire the scheduled function through
 * the functions emulator's trigger endpoint, read the status through the Hosting rewrite, call
 * the admin callable without and with an Auth-emulator ID token, and start a manual run over
 * HTTP, which goes through the Cloud Tasks emulator to the task-queue function.
 */

const STATUS_TOKEN = "e2e-status-token-0123456789abcdef";
const REGION = "us-central1";

let sandbox: Sandbox;
let project: ProjectCopy;
let suite: GuardedProcess | undefined;
let admin: App;
let db: Firestore;
const savedEnv = { ...process.env };

beforeAll(async () => {
  sandbox = await startSandbox({ readsPerMinute: null, tokenRequestsPerMinute: null });
  const { OFFICERND_CLIENT_SECRET, OFFICERND_ORG_SLUG, OFFICERND_CLIENT_ID, ...urls } =
    sandbox.env();
  project = await copyProject({
    envProject: { OFFICERND_ORG_SLUG, OFFICERND_CLIENT_ID },
    // The sandbox instead of OfficeRnD: only while emulating. A short time budget, so a run made
    // slow on purpose hands over to the task queue (the last case).
    envLocal: { ...urls, BACKUP_TIME_BUDGET_SECONDS: "4" },
    secretLocal: {
      OFFICERND_CLIENT_SECRET,
      BACKUP_STATUS_TOKEN: STATUS_TOKEN,
      OFFICERND_WEBHOOK_SECRET: "e2e-webhook-secret",
      // Slack off here (a deployed project sets its webhook URL, or `none`).
      BACKUP_SLACK_WEBHOOK_URL: "none",
    },
  });
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, CI: "true" };
  suite = await startEmulatorSuite({ projectDir: project.dir, projectId: project.projectId, env });
  process.env.METADATA_SERVER_DETECTION = "none";
  process.env.FIRESTORE_EMULATOR_HOST = project.hosts.firestore;
  process.env.FIREBASE_AUTH_EMULATOR_HOST = project.hosts.auth;
  admin = initializeApp({ projectId: project.projectId }, "e2e");
  db = getFirestore(admin);
}, 180_000);

afterAll(async () => {
  if (admin) await deleteApp(admin);
  await suite?.stop();
  await sandbox?.close();
  project?.remove();
  process.env = savedEnv;
}, 60_000);

async function eventually<T>(
  read: () => Promise<T | null>,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function mirroredRecords(): Promise<number> {
  const counts = await Promise.all(
    RESOURCE_NAMES.map(
      async (name) => (await db.collection(RESOURCES[name].collection).count().get()).data().count,
    ),
  );
  return counts.reduce((sum, n) => sum + n, 0);
}

function functionUrl(name: string): string {
  return `http://${project.hosts.functions}/${project.projectId}/${REGION}/${name}`;
}

function callCallable(idToken: string | null) {
  return fetch(functionUrl("officeRndBackupNow"), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(idToken ? { authorization: `Bearer ${idToken}` } : {}),
    },
    body: JSON.stringify({ data: {} }),
  });
}

/** An ID token from the Auth emulator for a new user, with custom claims. */
async function idToken(email: string, claims: Record<string, unknown>): Promise<string> {
  const password = "e2e-password-123";
  const user = await getAuth(admin).createUser({ email, password });
  await getAuth(admin).setCustomUserClaims(user.uid, claims);
  const res = await fetch(
    `http://${project.hosts.auth}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=any`,
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password, returnSecureToken: true }),
    },
  );
  return z.object({ idToken: z.string() }).parse(await res.json()).idToken;
}

const callableResult = z.object({
  result: z.object({
    runId: z.string(),
    status: z.string(),
    missingRecords: z.number(),
    inSync: z.boolean(),
  }),
});

describe("firebase emulators:start with this project", () => {
  it("starts every emulator firebase.json declares, and runs the functions on Node 24", () => {
    const output = suite?.output() ?? "";
    expect(output).toContain("Using node@24 from host");
    for (const name of EMULATORS_USERS_NEED) expect(project.hosts[name]).toMatch(/^127\.0\.0\.1:/);
    // The committed defaults, the project's file and the emulator-only one; no prompt.
    expect(output).toContain(
      `Loaded environment variables from .env, .env.${project.projectId}, .env.local`,
    );
  });

  it("fires the scheduled function through the trigger endpoint; the run is recorded", async () => {
    const trigger = `http://${project.hosts.functions}/functions/projects/${project.projectId}/triggers/${REGION}-officeRndDataBackup-0`;
    const res = await fetch(trigger, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(200);
    const metadata = await eventually(async () => {
      const snap = await db.doc("officeRndMetadata/backup-metadata").get();
      return snap.exists ? backupMetadataSchema.parse(snap.data()) : null;
    }, "the scheduled run's metadata");
    expect(metadata).toMatchObject({ status: "completed", trigger: "schedule", inSync: true });
    expect(metadata.missingRecords).toBeGreaterThan(0);
    expect(await mirroredRecords()).toBe(metadata.missingRecords);
  });

  it("serves the status endpoint through the Hosting rewrite", async () => {
    const url = `http://${project.hosts.hosting}/v1/office-rnd/backup-status`;
    const refused = await fetch(url);
    expect(refused.status).toBe(401);
    const res = await fetch(url, { headers: { authorization: `Bearer ${STATUS_TOKEN}` } });
    expect(res.status).toBe(200);
    const body = z
      .object({ backup: z.object({ status: z.string(), trigger: z.string() }) })
      .parse(await res.json());
    expect(body.backup).toMatchObject({ status: "completed", trigger: "schedule" });
  });

  it("serves the dashboard at / from public/, with its CSP", async () => {
    const page = await fetch(`http://${project.hosts.hosting}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
    expect(await page.text()).toContain('<label for="status-token">Status token</label>');
    const script = await fetch(`http://${project.hosts.hosting}/assets/dashboard.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
  });

  it("refuses the callable without auth, and without the admin claim", async () => {
    const anonymous = await callCallable(null);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: { status: "UNAUTHENTICATED" } });
    const user = await callCallable(await idToken("user@example.com", {}));
    expect(user.status).toBe(403);
    expect(await user.json()).toMatchObject({ error: { status: "PERMISSION_DENIED" } });
  });

  it("runs a backup for an admin with an Auth-emulator ID token", async () => {
    const res = await callCallable(await idToken("admin@example.com", { admin: true }));
    expect(res.status).toBe(200);
    const { result } = callableResult.parse(await res.json());
    expect(result).toMatchObject({ status: "completed", missingRecords: 0, inSync: true });
    const run = await db.doc(`officeRndMetadata/backup-metadata/runs/${result.runId}`).get();
    expect(run.get("trigger")).toBe("manual");
  });

  it("starts a manual run over HTTP: Hosting → api → Cloud Tasks emulator → officeRndBackupTask", async () => {
    const token = await idToken("operator@example.com", { admin: true });
    const res = await fetch(`http://${project.hosts.hosting}/v1/office-rnd/backup`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(202);
    const { runId } = z.object({ runId: z.string() }).parse(await res.json());
    const run = await eventually(async () => {
      const snap = await db.doc(`officeRndMetadata/backup-metadata/runs/${runId}`).get();
      return snap.exists ? backupMetadataSchema.parse(snap.data()) : null;
    }, "the queued run");
    expect(run).toMatchObject({ status: "completed", trigger: "manual", inSync: true });
  });

  it("hands a run longer than its budget to officeRndBackupTask through the Cloud Tasks emulator until it ends", async () => {
    // OfficeRnD answering in 1.5 s a page: the bookings' four pages outlast the 4 s budget.
    sandbox.configure({ latencyMs: 1_500 });
    const member = sandbox.data.members.ids()[0] ?? "";
    sandbox.data.members.update(member, { name: "Changed before the long run" });
    try {
      const trigger = `http://${project.hosts.functions}/functions/projects/${project.projectId}/triggers/${REGION}-officeRndDataBackup-0`;
      const res = await fetch(trigger, { method: "POST", body: "{}" });
      expect(res.status).toBe(200);
      const runs = db.collection("officeRndMetadata/backup-metadata/runs");
      const handedOver = await eventually(async () => {
        const snap = await runs.where("status", "==", "continuing").limit(1).get();
        return snap.docs[0]?.id ?? null;
      }, "an attempt that handed over");
      const run = await eventually(
        async () => {
          const parsed = backupMetadataSchema.parse((await runs.doc(handedOver).get()).data());
          return parsed.status === "continuing" ? null : parsed;
        },
        "the run's end",
        120_000,
      );
      expect(run).toMatchObject({ status: "completed", trigger: "schedule", inSync: true });
      expect(run.continuations).toBeGreaterThanOrEqual(1);
      const metadata = backupMetadataSchema.parse(
        (await db.doc("officeRndMetadata/backup-metadata").get()).data(),
      );
      expect(metadata.runId).toBe(handedOver);
      const stored = await db.collection(RESOURCES.members.collection).doc(member).get();
      expect(stored.get("name")).toBe("Changed before the long run");
      expect((await db.doc("officeRndMetadata/backup-checkpoint").get()).exists).toBe(false);
    } finally {
      sandbox.configure({ latencyMs: 0 });
    }
  }, 180_000);
});
