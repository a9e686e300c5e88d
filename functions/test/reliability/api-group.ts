import type { SandboxOptions } from "../../dev/sandbox";
import { runBackup, type BackupDeps, type BackupRunResult } from "../../src/backup/run";
import type { OfficeRndClientOptions } from "../../src/officernd/client";
import { RESOURCE_NAMES } from "../../src/officernd/resources";
import type { OfficeRndReader } from "../../src/officernd/types";
import {
  describeExpected,
  describeResult,
  expectRecorded,
  startCaseStack,
  type CaseStack,
  type ExpectedRun,
} from "./harness";
import {
  captureKnown,
  liveDocuments,
  recordVersions,
  seedKnownContent,
  type KnownContent,
} from "./known-content";
import type { ResultRow } from "./results";
import {
  excerpt,
  expectConverges,
  expectNoSecrets,
  expectNothingLost,
  runCase,
  type CaseGroup,
} from "./suite";

/**
 * Cases of one shape: a fault or scenario injected around one normal run of the engine (from the
 * known content, against the sandbox and the emulator), then the checks every case makes. The
 * OfficeRnD, Engine and most Firestore rows are such cases (./officernd-cases.ts, …).
 */

export interface ApiCase {
  name: string;
  /** What is injected, in a few words (the report's "Fault injected"). */
  fault: string;
  expect: ExpectedRun;
  /** The read failed before any page: not one record document may change. */
  writesNothing?: boolean;
  /**
   * The read failed mid-listing: the creates and updates already read stay written (each is
   * OfficeRnD's record as read, which the audit checks), but nothing is removed: every document
   * live before the run is live after it.
   */
  removesNothing?: boolean;
  sandbox?: SandboxOptions;
  client?: OfficeRndClientOptions;
  /**
   * The fault changes OfficeRnD's own data (`stack.truth`) or Firestore beyond the seeded drift:
   * what counts as known content is captured after `inject`.
   */
  changesTruth?: boolean;
  /** May return a promise (awaited) or anything else (ignored, e.g. a fault handle). */
  inject(stack: CaseStack, known: KnownContent): unknown;
  /** Wraps the run's reader (to act mid-run); called right before the run starts. */
  wrap?(reader: OfficeRndReader, stack: CaseStack): OfficeRndReader;
  /** Overrides of the run's deps (its config, the index page size, …). */
  deps?: Partial<BackupDeps>;
  /** After the run is checked as recorded; a fault injected at Firestore is removed here. */
  check?(result: BackupRunResult, stack: CaseStack, row: ResultRow): void | Promise<void>;
}

async function runApiCase(group: ResultRow["group"], c: ApiCase): Promise<void> {
  await runCase(group, c.name, c.fault, describeExpected(c.expect), async (row) => {
    const stack = await startCaseStack(c.name, c.sandbox);
    try {
      let known = await seedKnownContent(stack.db, stack.truth);
      stack.clientOptions = { ...stack.clientOptions, ...c.client };
      await c.inject(stack, known);
      if (c.changesTruth) known = await captureKnown(stack.db, stack.truth);
      const before = await recordVersions(stack.db);
      const liveBefore = await liveDocuments(stack.db);
      const reader = stack.reader();
      const result = await runBackup(
        stack.deps({ ...c.deps, reader: c.wrap ? c.wrap(reader, stack) : reader }),
        { trigger: "schedule" },
      );
      row.finalStatus = describeResult(result);
      await expectRecorded(stack.db, result, c.expect);
      if (c.writesNothing) {
        expect(result.written).toBe(0);
        expect(await recordVersions(stack.db)).toEqual(before);
        row.notes ||= "nothing written";
      }
      if (c.removesNothing) {
        const liveAfter = await liveDocuments(stack.db);
        expect([...liveBefore].filter((doc) => !liveAfter.has(doc))).toEqual([]);
        expect(RESOURCE_NAMES.map((name) => result.resources[name].removed)).toEqual(
          RESOURCE_NAMES.map(() => 0),
        );
        row.notes ||= `${result.written} repairs read before the failure written; nothing removed`;
      }
      await c.check?.(result, stack, row);
      if (result.error) row.notes += `; error: “${excerpt(result.error.message, 170)}”`;
      await expectNothingLost(row, stack, known);
      await expectConverges(row, stack, known);
      await expectNoSecrets(stack);
    } finally {
      await stack.close();
    }
  });
}

/** A group of such cases, one row each, in order. */
export function apiGroup(
  group: ResultRow["group"],
  title: string,
  cases: readonly ApiCase[],
): CaseGroup {
  return {
    cases: cases.length,
    register: () => {
      describe(title, () => {
        it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => runApiCase(group, c));
      });
    },
  };
}
