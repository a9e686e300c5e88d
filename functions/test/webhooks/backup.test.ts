import { recordEvent, type SandboxRecord } from "../../dev/sandbox";
import { runBackup, type BackupRunResult } from "../../src/backup/run";
import { RESOURCE_NAMES } from "../../src/officernd/resources";
import { differences, readAll, startStack, updateTimes, type Stack } from "../backup/helpers";
import { captureLogs } from "../http/helpers";
import { startWebhookServer, webhookEnv, type Delivered, type WebhookServer } from "./helpers";

/**
 * The webhook and the backup share one record writer: after OfficeRnD changes and the webhooks
 * for those changes are applied, the next backup run (real engine, real OfficeRnD client against
 * the sandbox over HTTP) finds nothing to do. Had a webhook been lost, the run would find it.
 */

const logs = captureLogs();
afterAll(() => logs.stop());

let stack: Stack;
let hook: WebhookServer;

async function open(policy: "mark" | "delete") {
  stack = await startStack("webhook-backup", {
    seed: { members: 60, companies: 12, opportunities: 15, seed: 777 },
  });
  hook = await startWebhookServer(stack.db, {
    env: webhookEnv({ ...stack.sandbox.env(), BACKUP_ORPHAN_POLICY: policy }),
  });
}
afterEach(async () => {
  await hook.close();
  await stack.close();
});

function expectApplied(res: Delivered) {
  expect([res.status, (res.json as { outcome?: string } | null)?.outcome]).toEqual([
    200,
    "applied",
  ]);
}

function backup(policy: "mark" | "delete"): Promise<BackupRunResult> {
  return runBackup(stack.deps({ config: { orphanPolicy: policy } }), { trigger: "manual" });
}

function nothingToDo(result: BackupRunResult) {
  expect(result.status).toBe("completed");
  expect(result.inSync).toBe(true);
  expect(result.written).toBe(0);
  expect(result.missingRecords).toBe(0);
  for (const name of RESOURCE_NAMES) {
    expect([name, result.resources[name]]).toEqual([
      name,
      expect.objectContaining({ missing: 0, changed: 0, orphaned: 0, written: 0, conflicts: 0 }),
    ]);
  }
}

/** Changes OfficeRnD's data and sends the webhook OfficeRnD would send for each change. */
async function changeOfficeRndAndNotify(): Promise<void> {
  const { data } = stack.sandbox;
  const when = new Date();
  const member = data.members.all()[3] as SandboxRecord;
  const updated = data.members.update(
    member._id,
    { name: "Łukasz Nguyễn-Brontë 🚀", properties: { plan: "hot desk", tags: ["a", "b"] } },
    when,
  );
  expectApplied(
    await hook.deliver(
      recordEvent("members", "updated", updated, {
        previousAttributes: { name: member.name ?? null },
      }),
    ),
  );

  const company: SandboxRecord = {
    ...(data.companies.all()[0] as SandboxRecord),
    _id: "6a1b2c3d4e5f60718293a4b5",
    name: "Société Générale d'Espaces ☕",
    createdAt: when.toISOString(),
    modifiedAt: when.toISOString(),
    x_unlisted: { nested: { deep: [1, { two: 2 }] } },
  };
  data.companies.add(company);
  expectApplied(await hook.deliver(recordEvent("companies", "created", company)));

  const gone = data.opportunities.all()[2] as SandboxRecord;
  data.opportunities.remove(gone._id);
  expectApplied(await hook.deliver(recordEvent("opportunities", "removed", { _id: gone._id })));
}

it.each(["mark", "delete"] as const)(
  "orphan policy %s: after the webhooks the backup run finds nothing to do",
  async (policy) => {
    await open(policy);
    const first = await backup(policy);
    expect(first.status).toBe("completed");
    expect(first.written).toBeGreaterThan(0);
    expect(await differences(stack.db, stack.sandbox)).toEqual([]);

    await changeOfficeRndAndNotify();
    expect(await differences(stack.db, stack.sandbox)).toEqual([]);
    const before = await updateTimes(stack.db);

    const second = await backup(policy);
    nothingToDo(second);
    expect(await updateTimes(stack.db)).toEqual(before);

    // The documents the webhook wrote say so.
    const docs = await readAll(stack.db);
    const sources = [...docs.members.values(), ...docs.companies.values()]
      .map((d) => (d.data._sync as { source: string }).source)
      .filter((s) => s === "webhook");
    expect(sources).toHaveLength(2);
  },
);

it("a lost webhook is what the next backup finds", async () => {
  await open("mark");
  await backup("mark");
  const member = stack.sandbox.data.members.all()[5] as SandboxRecord;
  stack.sandbox.data.members.update(member._id, { name: "changed, webhook lost" });
  const result = await backup("mark");
  expect(result.resources.members).toMatchObject({ changed: 1, written: 1 });
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
});
