import { runBackup } from "../../src/backup/run";
import { LISTING_DOC } from "../../src/backup/split-plan";
import { METADATA_COLLECTION } from "../../src/mirror/collections";
import { recordRef } from "../../src/mirror/record-document";
import type { LogEntry } from "../../src/logs";
import type { OfficeRndReader } from "../../src/officernd/types";
import { captureLogsPerTest } from "../officernd/helpers";
import { addUndatedMember, differences, seedFirestore, startStack, type Stack } from "./helpers";

/**
 * Records without createdAt against split listings (src/backup/split-listing.ts): such a record is
 * in no createdAt range, and OfficeRnD's /count can still match the ranges' sum when another
 * record is removed after its range listed it. A split listing therefore never removes a document
 * without createdAt, and whether a type may be split follows what its one-chain listings show.
 */

let stack: Stack;
const logs = captureLogsPerTest();
afterEach(() => stack.close());

const SIZES = { members: 4_000, companies: 20, opportunities: 30 };
const USED = ["members", "companies", "opportunities"] as const;

function phase(name: string): LogEntry[] {
  return logs.entries.filter(
    (e) => e.event === "backup_progress" && e.phase === name && e.resource === "members",
  );
}

it("a split listing does not remove a document without createdAt, even when /count matches", async () => {
  stack = await startStack("split-undated-race", { seed: SIZES });
  const undated = await addUndatedMember(stack);
  // Removed in OfficeRnD right after its range listed it: /count then equals the ranges' sum,
  // which misses the record without createdAt.
  const client = stack.reader();
  let removed: string | null = null;
  const reader: OfficeRndReader = {
    async *pages(resource, options) {
      for await (const page of client.pages(resource, options)) {
        yield page;
        const first = page.records[0]?._id;
        if (resource === "members" && options?.filters?.length && removed === null && first) {
          removed = first;
          stack.sandbox.data.members.remove(first);
        }
      }
    },
    count: (resource, options) => client.count(resource, options),
    stats: () => client.stats(),
  };
  const result = await runBackup(stack.deps({ reader, resources: USED }), { trigger: "schedule" });
  expect(removed).not.toBeNull();
  expect(phase("split")).toHaveLength(1);
  expect(result.error).toBeNull();
  // The ranges' sum matched /count: verified, yet the record without createdAt stays.
  expect(result.resources.members.removed).toBe(0);
  expect((await recordRef(stack.db, "members", undated).get()).get("_sync.removedAt")).toBeNull();
  expect(phase("undated_not_removed")).toEqual([expect.objectContaining({ count: 1 })]);
  // And the next run lists members in one chain, which can tell whether it is gone.
  const note = (await stack.db.collection(METADATA_COLLECTION).doc(LISTING_DOC).get()).get(
    "oneChain.members.reason",
  ) as unknown;
  expect(note).toBe("1 document without createdAt not listed by the ranges");
}, 120_000);

it("one-chain listings keep a type with records without createdAt in one chain, and let it split again once none are left", async () => {
  stack = await startStack("split-undated-note", { seed: SIZES });
  const undated = await addUndatedMember(stack);
  const note = async () =>
    (await stack.db.collection(METADATA_COLLECTION).doc(LISTING_DOC).get()).get(
      "oneChain.members",
    ) as { until: { toMillis(): number }; reason: string } | undefined;
  const run = () => runBackup(stack.deps({ resources: USED }), { trigger: "schedule" });

  // Split, short of /count: the document without createdAt is not listed, so the removals are
  // held (a retryable failure, as a short listing is), and one chain next.
  logs.entries.length = 0;
  expect((await run()).error).toMatchObject({ code: "incomplete_listing", retryable: true });
  expect(phase("split")).toHaveLength(1);
  const first = await note();
  expect(first?.reason).toMatch(/without createdAt/);

  // One chain: it sees the record without createdAt and renews the note (no split run failing
  // again when the note would have lapsed).
  logs.entries.length = 0;
  expect((await run()).status).toBe("completed");
  expect(phase("one_chain")).toHaveLength(1);
  const renewed = await note();
  expect(renewed?.reason).toBe("1 record without createdAt (in no createdAt range)");
  expect(renewed?.until.toMillis()).toBeGreaterThanOrEqual(first?.until.toMillis() ?? Infinity);

  // Gone from OfficeRnD: the next one-chain listing sees none, drops the note; then a split.
  stack.sandbox.data.members.remove(undated);
  expect((await run()).status).toBe("completed");
  expect(await note()).toBeUndefined();
  logs.entries.length = 0;
  expect((await run()).status).toBe("completed");
  expect(phase("split")).toHaveLength(1);
  const members = (await differences(stack.db, stack.sandbox)).filter((d) =>
    d.startsWith("members/"),
  );
  expect(members).toEqual([]);
}, 180_000);

it("a split listing's orphan that OfficeRnD still has (createdAt edited into a range already read) is not removed", async () => {
  stack = await startStack("split-edited", { seed: SIZES });
  await seedFirestore(stack.db, { members: stack.sandbox.data.members.all() });
  const sorted = stack.sandbox.data.members.ids().sort();
  const moved = sorted.at(-1)!; // the newest: on the last range's last page
  const client = stack.reader();
  let firstEnded!: () => void;
  const firstRangeEnded = new Promise<void>((resolve) => (firstEnded = resolve));
  let listedFirst: string | null = null;
  const reader: OfficeRndReader = {
    async *pages(resource, options) {
      const ops = (options?.filters ?? []).map((f) => f.op);
      const firstRange = resource === "members" && ops.length === 1 && ops[0] === "$lt";
      const lastRange = resource === "members" && ops.length === 1 && ops[0] === "$gte";
      // The last range reads only once the first has ended, and by then OfficeRnD has moved the
      // newest member's createdAt into the first range's window and removed one the first range
      // listed (so /count still equals the ranges' sum).
      if (lastRange) await firstRangeEnded;
      for await (const page of client.pages(resource, options)) {
        if (firstRange) listedFirst ??= page.records[0]?._id ?? null;
        yield page;
      }
      if (firstRange) {
        const early = stack.sandbox.data.members.get(sorted[0]!)!.createdAt as string;
        stack.sandbox.data.members.update(moved, { createdAt: early });
        stack.sandbox.data.members.remove(listedFirst!);
        firstEnded();
      }
    },
    count: (resource, options) => client.count(resource, options),
    exists: (resource, id, options) => client.exists(resource, id, options),
    stats: () => client.stats(),
  };
  const run = await runBackup(stack.deps({ reader, resources: USED }), { trigger: "schedule" });
  expect(phase("split")).toHaveLength(1);
  // Looked up by id, the moved member is still in OfficeRnD: no removal, one chain next.
  expect(run.error).toMatchObject({ code: "incomplete_listing", retryable: true });
  expect(run.error?.message).toMatch(
    /1 of the 1 documents the createdAt ranges did not list are still in OfficeRnD/,
  );
  for (const id of [moved, listedFirst!]) {
    expect((await recordRef(stack.db, "members", id).get()).get("_sync.removedAt")).toBeNull();
  }
  const next = await runBackup(stack.deps({ resources: USED }), { trigger: "schedule" });
  expect(next).toMatchObject({ status: "completed", error: null });
  expect(next.resources.members).toMatchObject({ removed: 1 });
  const members = (await differences(stack.db, stack.sandbox)).filter((d) =>
    d.startsWith("members/"),
  );
  expect(members).toEqual([]);
}, 180_000);
