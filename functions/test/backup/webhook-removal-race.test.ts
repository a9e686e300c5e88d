import { Timestamp } from "firebase-admin/firestore";
import { runBackup } from "../../src/backup/run";
import { recordRef } from "../../src/mirror/record-document";
import type { OfficeRndReader } from "../../src/officernd/types";
import { differences, startStack, type Stack } from "./helpers";

/**
 * A webhook's removal that lands while a full run lists (between OfficeRnD's page and the run's
 * Firestore read) is not undone: OfficeRnD listed the record before removing it, so the run
 * leaves the mark (deferred); the next run brings the record back only if OfficeRnD still lists it.
 */

let stack: Stack;
afterEach(() => stack.close());

it("a full run does not recreate a record a webhook marked removed during its listing", async () => {
  stack = await startStack("webhook-removal-race", {
    seed: { members: 120, companies: 10, opportunities: 10 },
  });
  expect((await runBackup(stack.deps(), { trigger: "cli" })).status).toBe("completed");
  const gone = stack.sandbox.data.members.ids()[60];
  if (gone === undefined) throw new Error("no member");
  const client = stack.reader();
  let marked = false;
  const reader: OfficeRndReader = {
    async *pages(resource, options) {
      for await (const page of client.pages(resource, options)) {
        // Before the run reads any members document (the first page, before the merge reads
        // the collection): the webhook's mark (src/webhooks/apply.ts: `_sync.removedAt` set,
        // content kept).
        if (resource === "members" && !marked) {
          marked = true;
          await recordRef(stack.db, "members", gone).update({
            "_sync.removedAt": Timestamp.now(),
            "_sync.source": "webhook",
          });
        }
        yield page;
      }
    },
    count: (resource, options) => client.count(resource, options),
    stats: () => client.stats(),
  };
  const raced = await runBackup(stack.deps({ reader }), { trigger: "cli" });
  expect(marked).toBe(true);
  expect(raced).toMatchObject({ status: "completed", error: null });
  expect(raced.resources.members).toMatchObject({ missing: 0, written: 0 });
  expect((await recordRef(stack.db, "members", gone).get()).get("_sync.removedAt")).not.toBeNull();

  // OfficeRnD still lists it on the next run: the removal was not real, the record comes back.
  const next = await runBackup(stack.deps(), { trigger: "cli" });
  expect(next).toMatchObject({ status: "completed", error: null });
  expect(next.resources.members).toMatchObject({ missing: 1, written: 1 });
  expect((await recordRef(stack.db, "members", gone).get()).get("_sync.removedAt")).toBeNull();
  expect(await differences(stack.db, stack.sandbox)).toEqual([]);
}, 60_000);
