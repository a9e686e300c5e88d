import { performance } from "node:perf_hooks";
import { recordEvent, webhookEvent, type SandboxRecord } from "../../dev/sandbox";
import { runBackup } from "../../src/backup/run";
import { recordRef } from "../../src/mirror/record-document";
import { RESOURCES } from "../../src/officernd/resources";
import { backupStatusResponseSchema } from "../../src/status";
import {
  eventDocId,
  WEBHOOK_EVENTS_COLLECTION,
  WEBHOOK_TOMBSTONES_COLLECTION,
} from "../../src/webhooks";
import { STATUS_TOKEN } from "../http/helpers";
import {
  countStatsWrites,
  eventually,
  startWebhookServer,
  webhookEnv,
  WEBHOOK_SECRET,
  type Delivered,
  type WebhookServer,
} from "../webhooks/helpers";
import { converge, startCaseStack, type CaseStack } from "./harness";
import { captureKnown, goodIds, seedKnownContent, type KnownContent } from "./known-content";
import { seconds, type ResultRow } from "./results";
import { expectNoSecrets, expectNothingLost, runCase, tally, type CaseGroup } from "./suite";

/**
 * What a validly signed delivery can do (issue 14, item 9), sent over a socket into the product
 * app the way OfficeRnD sends it (test/webhooks/helpers.ts), on a Firestore the backup has just
 * made equal to OfficeRnD. A change OfficeRnD really made is applied to the sandbox first, so
 * after the deliveries Firestore must still equal OfficeRnD: nothing lost, and the next backup run
 * finds nothing to write (a second document or a wrong version would be a write).
 * test/webhooks/*.test.ts has the finer points.
 */

const HOUR = 3_600_000;
/** Production's interval between writes of the refusal counters (the scenario tests use 0). */
const REJECTION_FLUSH_MS = 2_000;
const FLOOD = 300;

const outcome = (res: Delivered) => (res.json as { outcome?: string } | null)?.outcome;
const errorCode = (res: Delivered) =>
  (res.json as { error?: { code?: string } } | null)?.error?.code;
/** `400 invalid_payload`, `200 applied`: what a delivery got. */
const answer = (res: Delivered) => `${res.status} ${errorCode(res) ?? outcome(res) ?? ""}`.trim();

/** The record with `modifiedAt` set as given (removed when undefined) and another name. */
function version(record: SandboxRecord, modifiedAt: string | undefined, name: string) {
  const { modifiedAt: _old, ...rest } = record;
  return modifiedAt === undefined ? { ...rest, name } : { ...rest, name, modifiedAt };
}

export const WEBHOOKS_GROUP: CaseGroup = {
  cases: 5,
  register() {
    describe("Webhooks (signed deliveries into the product app)", () => {
      let stack: CaseStack;
      let hook: WebhookServer;
      let memberIds: string[] = [];
      let used = 0;

      beforeAll(async () => {
        stack = await startCaseStack("webhooks");
        await seedKnownContent(stack.db, stack.truth);
        expect((await runBackup(stack.deps(), { trigger: "schedule" })).status).toBe("completed");
        memberIds = goodIds(await captureKnown(stack.db, stack.truth), "members");
        stack.extraSecrets.push(WEBHOOK_SECRET, STATUS_TOKEN);
        hook = await startWebhookServer(stack.db, {
          env: webhookEnv(),
          rejectionFlushMs: REJECTION_FLUSH_MS,
        });
      });

      afterAll(async () => {
        await hook?.close();
        await stack?.close();
      });

      /** A member no case touched yet, as OfficeRnD has it (every one equals its document). */
      function nextMember(): SandboxRecord {
        const id = memberIds[3 + 7 * used++] ?? "";
        const record = stack.truth.members.find((r) => r._id === id);
        if (!record) throw new Error(`members/${id} is not in OfficeRnD's data`);
        return record;
      }

      /** A change OfficeRnD makes (and would tell by webhook): its data and the case's truth. */
      function changeInOfficeRnd(id: string, name: string): SandboxRecord {
        const updated = stack.sandbox.data.members.update(id, { name });
        stack.truth.members = stack.truth.members.map((r) => (r._id === id ? updated : r));
        return updated;
      }

      /** Known content now: documents as they are, OfficeRnD's records as they are. */
      const known = (): Promise<KnownContent> => captureKnown(stack.db, stack.truth);

      /** Nothing lost; Firestore equals OfficeRnD, so the next backup run writes nothing. */
      async function afterWebhooks(row: ResultRow, before: KnownContent) {
        await expectNothingLost(row, stack, before);
        const converged = await converge(stack);
        row.runsToConverge = converged.runs;
        expect(converged.remaining).toEqual([]);
        expect(converged.runs).toBe(1);
        expect(converged.last?.written).toBe(0);
        await expectNoSecrets(stack, hook.texts);
      }

      it("a flood of refused deliveries", async () => {
        await runCase(
          "Webhooks",
          "flood of refused deliveries",
          `${FLOOD} unsigned POSTs in a burst`,
          `${FLOOD} × 401; the status counts all ${FLOOD} within ~2 s of the last (trailing flush)`,
          async (row) => {
            const before = await known();
            const writes = countStatsWrites();
            const statuses: number[] = [];
            let lagMs: number;
            let counterWrites: number;
            try {
              for (let i = 0; i < FLOOD; i++) {
                statuses.push(
                  (await hook.post("{}", { "Content-Type": "application/json" })).status,
                );
              }
              const finished = performance.now();
              const rejected = async () => {
                const res = await fetch(`${hook.server.url}/v1/office-rnd/backup-status`, {
                  headers: { Authorization: `Bearer ${STATUS_TOKEN}` },
                });
                return backupStatusResponseSchema.parse(await res.json()).webhooks.rejected;
              };
              // Before: counted only when the next refusal arrived (300 showed as 2).
              expect(await eventually(rejected, (n) => n === FLOOD, 4_000)).toBe(FLOOD);
              lagMs = performance.now() - finished;
              counterWrites = writes.writes();
            } finally {
              writes.restore();
            }
            row.finalStatus = tally(statuses);
            expect(statuses.every((s) => s === 401)).toBe(true);
            expect(lagMs).toBeLessThan(4_000);
            // One write per interval at most: a few for the whole burst (at once, then trailing).
            expect(counterWrites).toBeGreaterThanOrEqual(2);
            expect(counterWrites).toBeLessThanOrEqual(Math.ceil(lagMs / REJECTION_FLUSH_MS) + 3);
            row.notes =
              `the status showed all ${FLOOD} ${seconds(lagMs)} after the last, counted in ` +
              `${counterWrites} writes of the counters; nothing else written`;
            await afterWebhooks(row, before);
          },
        );
      });

      it("modifiedAt missing or unparseable", async () => {
        await runCase(
          "Webhooks",
          "modifiedAt missing or unparseable",
          "a member's update without modifiedAt, or dated 'yesterday', without a zone, year +275760; then an older and the current version",
          "400 invalid_payload each, nothing stored; the older version stale, the current applied",
          async (row) => {
            const original = nextMember();
            const current = changeInOfficeRnd(original._id, "Renamed in OfficeRnD");
            const before = await known();
            const stored = await recordRef(stack.db, "members", original._id).get();
            const answers: string[] = [];
            for (const bad of [
              undefined,
              "yesterday",
              "2026-11-20T09:00",
              "+275760-09-13T00:00:00.000Z",
            ]) {
              const res = await hook.deliver(
                recordEvent("members", "updated", version(current, bad, "Unversioned")),
              );
              answers.push(answer(res));
            }
            expect(answers).toEqual(Array(4).fill("400 invalid_payload"));
            const after = await recordRef(stack.db, "members", original._id).get();
            expect(after.updateTime?.isEqual(stored.updateTime ?? after.updateTime)).toBe(true);
            // The document kept its version, so an older one cannot replace it.
            const stamp =
              typeof original.modifiedAt === "string" ? Date.parse(original.modifiedAt) : NaN;
            expect(Number.isNaN(stamp)).toBe(false);
            const olderAt = new Date(stamp - HOUR).toISOString();
            const older = recordEvent(
              "members",
              "updated",
              version(original, olderAt, "An older name"),
            );
            answers.push(answer(await hook.deliver(older)));
            answers.push(answer(await hook.deliver(recordEvent("members", "updated", current))));
            answers.push(answer(await hook.deliver({ ...older, event: `${older.event}-again` })));
            expect(answers.slice(4)).toEqual(["200 stale", "200 applied", "200 stale"]);
            row.finalStatus = tally(answers);
            row.notes = "no document without a version, so no older event applied after one";
            await afterWebhooks(row, before);
          },
        );
      });

      it("an event id Firestore reserves", async () => {
        await runCase(
          "Webhooks",
          "event id `__abc__`",
          "a ping with event id `__abc__` and a member update with `__member__` (Firestore reserves `__.*__` ids), each delivered twice",
          "200 at once (the id hashed), then duplicate; never 503",
          async (row) => {
            const original = nextMember();
            const current = changeInOfficeRnd(original._id, "Renamed under a reserved event id");
            const before = await known();
            const events = [
              webhookEvent("ping.test", {}, { id: "__abc__" }),
              recordEvent("members", "updated", current, { id: "__member__" }),
            ];
            const answers: string[] = [];
            let slowest = 0;
            for (const event of [...events, ...events]) {
              const started = performance.now();
              answers.push(answer(await hook.deliver(event)));
              slowest = Math.max(slowest, performance.now() - started);
            }
            row.finalStatus = tally(answers);
            // Before: 503 not_stored after ~7 s, on every redelivery.
            expect(answers).toEqual([
              "200 ignored",
              "200 applied",
              "200 duplicate",
              "200 duplicate",
            ]);
            expect(slowest).toBeLessThan(5_000);
            for (const { event } of events) {
              const marker = await stack.db
                .collection(WEBHOOK_EVENTS_COLLECTION)
                .doc(eventDocId(event))
                .get();
              expect({ event, id: marker.id, stored: marker.exists }).toEqual({
                event,
                id: expect.stringMatching(/^~/) as unknown,
                stored: true,
              });
            }
            row.notes = `event markers stored under hashed ids; slowest answer ${Math.round(slowest)} ms`;
            await afterWebhooks(row, before);
          },
        );
      });

      it("an upper-case record id", async () => {
        await runCase(
          "Webhooks",
          "upper-case _id",
          "a member's update and another's removal with the _id upper-cased (`5C43…` for `5c43…`)",
          "both applied to the lower-case document; no second document",
          async (row) => {
            const updatedRecord = changeInOfficeRnd(nextMember()._id, "Renamed, id upper-cased");
            const removed = nextMember();
            stack.sandbox.data.members.remove(removed._id);
            stack.truth.members = stack.truth.members.filter((r) => r._id !== removed._id);
            const before = await known();
            const count = async () =>
              (await stack.db.collection(RESOURCES.members.collection).count().get()).data().count;
            const documents = await count();
            const answers = [
              answer(
                await hook.deliver(
                  recordEvent("members", "updated", {
                    ...updatedRecord,
                    _id: updatedRecord._id.toUpperCase(),
                  }),
                ),
              ),
              answer(
                await hook.deliver(
                  recordEvent("members", "removed", { _id: removed._id.toUpperCase() }),
                ),
              ),
            ];
            row.finalStatus = tally(answers);
            expect(answers).toEqual(["200 applied", "200 applied"]);
            expect(await count()).toBe(documents);
            const gone = await recordRef(stack.db, "members", removed._id).get();
            expect(gone.get("_sync.removedAt")).not.toBeNull();
            row.notes = `${documents} member documents before and after; the update and the removal reached the lower-case ids`;
            await afterWebhooks(row, before);
          },
        );
      });

      it("event times far in the future", async () => {
        await runCase(
          "Webhooks",
          "far-future event times",
          "a removal with createdAt `+275760-09-13T00:00:00Z`, an update dated two days ahead; then OfficeRnD's real update",
          "400 each (invalid_payload, time_out_of_range), no tombstone; the real update applied, not stale",
          async (row) => {
            const original = nextMember();
            const current = changeInOfficeRnd(original._id, "Renamed after the bogus events");
            const before = await known();
            const tombstones = async () =>
              (
                await stack.db
                  .collection(WEBHOOK_TOMBSTONES_COLLECTION)
                  .where("recordId", "==", original._id)
                  .get()
              ).size;
            const ahead = new Date(Date.now() + 48 * HOUR).toISOString();
            const answers = [
              answer(
                await hook.deliver(
                  recordEvent(
                    "members",
                    "removed",
                    { _id: original._id },
                    { createdAt: "+275760-09-13T00:00:00.000Z" },
                  ),
                ),
              ),
              answer(
                await hook.deliver(
                  recordEvent("members", "updated", version(original, ahead, "From the future")),
                ),
              ),
            ];
            expect(answers).toEqual(["400 invalid_payload", "400 time_out_of_range"]);
            expect(await tombstones()).toBe(0);
            // Before: the removal's tombstone made every update `stale` for a week.
            answers.push(answer(await hook.deliver(recordEvent("members", "updated", current))));
            row.finalStatus = tally(answers);
            expect(answers[2]).toBe("200 applied");
            row.notes = "no tombstone from the year 275760; the next real update applied at once";
            await afterWebhooks(row, before);
          },
        );
      });
    });
  },
};
