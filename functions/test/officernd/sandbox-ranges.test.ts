import { awkwardMembers, startSandbox, type Sandbox } from "../../dev/sandbox";
import { createOfficeRndClient } from "../../src/officernd/client";
import { loadOfficeRndConfig } from "../../src/config";
import type { OfficeRndRecord } from "../../src/officernd/schemas";

/**
 * What a split listing (src/backup/split-listing.ts) relies on, as the sandbox serves it over HTTP
 * (docs/officernd-api.md): generated ids carry their createdAt second in their first 8 hex
 * digits; members take a createdAt range with both bounds at once; a record without createdAt
 * is in no range; `_id` takes equality only (a range on it is a 400, like any unknown
 * parameter); the awkward fixtures are what they say.
 */

let sandbox: Sandbox;

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}
afterEach(async () => sandbox?.close());

async function listAll(
  filters: { op: "$gte" | "$lt"; value: string }[],
): Promise<OfficeRndRecord[]> {
  const client = createOfficeRndClient(loadOfficeRndConfig(sandbox.env()), { maxAttempts: 1 });
  const out: OfficeRndRecord[] = [];
  try {
    const list = filters.map((f) => ({ field: "createdAt" as const, ...f }));
    for await (const page of client.pages("members", { filters: list })) out.push(...page.records);
  } finally {
    client.close();
  }
  return out;
}

it("generated members' ids agree with their createdAt to the second", async () => {
  sandbox = await startSandbox({ seed: { members: 300, seed: 3 } });
  for (const r of sandbox.data.members.all()) {
    const idSecond = parseInt(r._id.slice(0, 8), 16);
    expect(idSecond).toBe(Math.floor(Date.parse(text(r.createdAt)) / 1000));
  }
});

it("createdAt ranges partition the members that have a createdAt, and none other", async () => {
  sandbox = await startSandbox({ seed: { members: 300, seed: 3 } });
  const template = sandbox.data.members.all()[0]!;
  const awkward = awkwardMembers(template, { imported: 4, withoutCreatedAt: 2 });
  sandbox.data.members.add(...awkward.imported, ...awkward.withoutCreatedAt);
  // The imported ones: id time and createdAt years apart.
  for (const r of awkward.imported) {
    const gap = Math.abs(parseInt(r._id.slice(0, 8), 16) * 1000 - Date.parse(text(r.createdAt)));
    expect(gap).toBeGreaterThan(365 * 86_400_000);
  }
  const cut = "2023-01-01T00:00:00.000Z";
  const cut2 = "2024-07-01T00:00:00.000Z";
  const ranges = await Promise.all([
    listAll([{ op: "$lt", value: cut }]),
    listAll([
      { op: "$gte", value: cut },
      { op: "$lt", value: cut2 },
    ]),
    listAll([{ op: "$gte", value: cut2 }]),
  ]);
  const ids = ranges.flat().map((r) => r._id);
  expect(new Set(ids).size).toBe(ids.length); // each in one range only
  expect(ids.length).toBe(304); // the 300 generated and 4 imported; not the 2 without createdAt
  for (const r of awkward.withoutCreatedAt) expect(ids).not.toContain(r._id);
  for (const r of awkward.imported) expect(ids).toContain(r._id);
});

it("refuses a range on _id (equality only) with a 400", async () => {
  sandbox = await startSandbox({ seed: { members: 10 } });
  const token = await fetch(sandbox.tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      client_id: sandbox.clientId,
      client_secret: sandbox.clientSecret,
      grant_type: "client_credentials",
      scope: "flex.community.members.read",
    }),
  }).then(async (r) => String(((await r.json()) as { access_token: unknown }).access_token));
  const url = `${sandbox.apiUrl}/organizations/${sandbox.orgSlug}/members?_id[$gte]=${"0".repeat(24)}`;
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(400);
});
