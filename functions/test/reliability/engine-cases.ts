import { FieldValue, Timestamp } from "firebase-admin/firestore";
import type { SandboxRecord } from "../../dev/sandbox";
import { loadBackupConfig } from "../../src/config";
import { recordDocument, recordRef, syncInfo } from "../../src/mirror/record-document";
import type { ResourceName } from "../../src/officernd/resources";
import type { OfficeRndReader } from "../../src/officernd/types";
import type { ApiCase } from "./api-group";
import type { CaseStack } from "./harness";
import { goodIds } from "./known-content";

/**
 * The engine's rules under the scenarios of issue 14 (docs/reliability.md, group "Engine"): a
 * webhook racing the backup, many records replaced upstream, an orphan policy switched to delete.
 * Each fails on an engine without the rule (a document lost or overwritten with older content)
 * and converges in one normal run after it.
 */

const WEBHOOK_AT = new Date("2026-11-30T12:00:00Z");

function truthRecord(stack: CaseStack, resource: ResourceName, id: string): SandboxRecord {
  const record = stack.truth[resource].find((r) => r._id === id);
  if (!record) throw new Error(`${resource}/${id} is not in OfficeRnD's data`);
  return record;
}

/** What a webhook handler would store for `record`. */
async function webhookWrite(stack: CaseStack, resource: ResourceName, record: SandboxRecord) {
  await recordRef(stack.db, resource, record._id).set(
    recordDocument(record, syncInfo("webhook", WEBHOOK_AT)),
  );
}

/** A reader whose listing of `resource` starts only after `before` has run. */
function before(
  reader: OfficeRndReader,
  resource: ResourceName,
  action: () => Promise<void>,
): OfficeRndReader {
  return {
    async *pages(name, options) {
      if (name === resource) await action();
      yield* reader.pages(name, options);
    },
    ...(reader.count ? { count: reader.count.bind(reader) } : {}),
    stats: () => reader.stats(),
  };
}

let newer = "";
let created = "";
const REPLACED = 40;

export const ENGINE_CASES: ApiCase[] = [
  {
    name: "webhook newer than the listing",
    fault:
      "a member stored by a webhook with a later modifiedAt than OfficeRnD's listing shows (it landed between the API read and the Firestore read)",
    expect: { status: "completed" },
    changesTruth: true,
    inject: async (s, known) => {
      newer = goodIds(known, "members")[7] ?? "";
      const record = truthRecord(s, "members", newer);
      const stamp = typeof record.modifiedAt === "string" ? Date.parse(record.modifiedAt) : 0;
      const modified = (Number.isNaN(stamp) ? 0 : stamp) + 86_400_000;
      await webhookWrite(s, "members", {
        ...record,
        name: "Renamed by a webhook",
        modifiedAt: new Date(modified).toISOString(),
      });
    },
    check: async (r, s, row) => {
      expect(r.inSync).toBe(false);
      expect(r.resources.members.conflicts).toBeGreaterThanOrEqual(1);
      const doc = await recordRef(s.db, "members", newer).get();
      expect(doc.get("name")).toBe("Renamed by a webhook");
      row.notes =
        "the newer stored version kept (a conflict, not in sync); the next run, finding it again, repairs it from OfficeRnD";
    },
  },
  {
    name: "record created mid-run by a webhook",
    fault:
      "a member OfficeRnD's listing does not show yet is stored by a webhook after the listing began",
    expect: { status: "completed" },
    changesTruth: true,
    // Small index pages: the document is written before the index reaches it.
    deps: { indexPageSize: 20 },
    inject: async (s, known) => {
      created = goodIds(known, "members").at(-1) ?? "";
      await recordRef(s.db, "members", created).delete();
      s.sandbox.data.members.remove(created);
    },
    wrap: (reader, s) =>
      before(reader, "members", () =>
        webhookWrite(s, "members", truthRecord(s, "members", created)),
      ),
    check: async (r, s, row) => {
      const doc = await recordRef(s.db, "members", created).get();
      expect(doc.exists).toBe(true);
      expect(doc.get("_sync.removedAt")).toBeNull();
      expect(r.resources.members.conflicts).toBeGreaterThanOrEqual(1);
      row.notes =
        "not removed though unlisted: written after the listing began (a conflict, compared next run)";
    },
  },
  {
    name: "25% of members replaced upstream",
    fault: `${REPLACED} members removed and ${REPLACED} added in OfficeRnD in one day: the count stays level`,
    expect: {
      status: "failed",
      code: "shrink_guard",
      retryable: false,
      message: /members: removal guard: this run would remove \d+ of \d+ members documents/,
    },
    changesTruth: true,
    inject: (s, known) => {
      const gone = goodIds(known, "members").slice(0, REPLACED);
      const added = s.truth.members.slice(REPLACED, 2 * REPLACED).map((r, i) => ({
        ...r,
        _id: `eeee${String(i).padStart(20, "0")}`,
        name: `Replacement ${i}`,
      }));
      s.sandbox.data.members.remove(...gone);
      s.sandbox.data.members.add(...added);
      s.truth.members = [...s.truth.members, ...added];
    },
    check: (r, _s, row) => {
      expect(r.resources.members).toMatchObject({ guarded: true, removed: 0 });
      expect(r.resources.members.written).toBeGreaterThanOrEqual(REPLACED);
      row.notes = `${REPLACED} new members created; the removals held back for a person to look at`;
    },
  },
  {
    name: "orphan policy switched to delete",
    fault: "40 members marked removed by earlier runs; BACKUP_ORPHAN_POLICY becomes delete",
    expect: {
      status: "failed",
      code: "shrink_guard",
      retryable: false,
      message: /members: removal guard: this run would remove \d+ of \d+ members documents/,
    },
    changesTruth: true,
    deps: { config: { ...loadBackupConfig({}), orphanPolicy: "delete" } },
    inject: async (s, known) => {
      const marked = goodIds(known, "members").slice(0, REPLACED);
      for (const id of marked) {
        await recordRef(s.db, "members", id).update({
          "_sync.removedAt": Timestamp.fromDate(WEBHOOK_AT),
          "_sync.syncedAt": FieldValue.serverTimestamp(),
        });
      }
      s.sandbox.data.members.remove(...marked);
      s.truth.members = s.truth.members.filter((r) => !marked.includes(r._id));
    },
    check: (r, _s, row) => {
      expect(r.resources.members).toMatchObject({ guarded: true, removed: 0 });
      row.notes = "no marked document deleted at once: the same guard applies to the switch";
    },
  },
];
