import { randomUUID } from "node:crypto";
import { backupStatusResponseSchema } from "../../src/status";
import { startLocalStack, type LocalStack } from "../../dev/local-stack";

/** `npm start`, minus the terminal: the stack it builds works end to end and stops cleanly. */
describe("local stack (npm start)", () => {
  const saved = { ...process.env };
  let stack: LocalStack | undefined;

  beforeAll(() => {
    process.env.GCLOUD_PROJECT = `demo-stack-${randomUUID().slice(0, 8)}`;
    delete process.env.BACKUP_STATUS_TOKEN;
  });
  afterAll(async () => {
    await stack?.stop();
    process.env = saved;
  });

  it("repairs the drifted seed, then serves the status the printed curl line asks for", async () => {
    stack = await startLocalStack({ port: 0 });
    const drifted = Object.values(stack.drift).reduce(
      (n, d) => n + d.missing.length + d.changed.length + d.orphaned.length,
      0,
    );
    expect(drifted).toBeGreaterThan(0);
    expect(stack.result.status).toBe("completed");
    expect(stack.result.written).toBe(drifted);
    expect(stack.result.inSync).toBe(true);

    // The exact URL and token of the printed curl command.
    const match = /-H "Authorization: Bearer ([^"]+)" (http:\/\/\S+)$/.exec(stack.curl);
    expect(match).not.toBeNull();
    const [, token, url] = match!;
    const res = await fetch(url!, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const body = backupStatusResponseSchema.parse(await res.json());
    expect(body.backup.status).toBe("completed");
    expect(body.backup.missingRecords).toBe(stack.result.missingRecords);
    expect(body.syncHealth.members).toBe("healthy");
    expect(body.currentStats.members.firestore).toBe(stack.sandbox.data.members.size);

    const unauthorized = await fetch(url!);
    expect(unauthorized.status).toBe(401);

    // The printed dashboard address serves the page that signs in with that token.
    expect(stack.dashboardUrl).toBe(`${stack.server.url}/`);
    const page = await fetch(stack.dashboardUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<label for="status-token">Status token</label>');
  });

  it("stops everything it started", async () => {
    const { server, sandbox } = stack!;
    await stack!.stop();
    stack = undefined;
    await expect(fetch(`${server.url}/v1/office-rnd/backup-status`)).rejects.toThrow();
    await expect(fetch(sandbox.tokenUrl, { method: "POST" })).rejects.toThrow();
  });
});
