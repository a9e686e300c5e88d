import { Timestamp } from "firebase-admin/firestore";
import type { BackupMetadata, ResourceStats } from "../../src/backup/documents";
import { RESOURCE_NAMES, type ResourceName } from "../../src/officernd/resources";
import { runSyncHealth } from "../../src/backup/sync-health";
import { computeSyncHealth } from "../../src/status/metrics";

/**
 * The `syncHealth` of the backup_summary log entry (what the out_of_sync alert reads) must be the
 * status endpoint's `syncHealth` for the same run, in every case: every combination of the
 * inputs the rule looks at, for three resources.
 */

function stats(bits: number): ResourceStats {
  const discrepancy = (bits >> 4) & 3; // 0 none, 1 missing, 2 changed, 3 orphaned
  return {
    firestore: 10,
    api: bits & 1 ? null : 10,
    missing: discrepancy === 1 ? 2 : 0,
    changed: discrepancy === 2 ? 1 : 0,
    orphaned: discrepancy === 3 ? 1 : 0,
    written: 0,
    rejected: 0,
    removed: 0,
    unstorable: bits & 2 ? 1 : 0,
    conflicts: 0,
    guarded: (bits & 4) !== 0,
    drifted: 0,
    error: bits & 8 ? "members: something went wrong" : null,
    warning: null,
  };
}

function metadata(
  status: "completed" | "failed",
  inSync: boolean,
  resources: Record<ResourceName, ResourceStats>,
): BackupMetadata {
  const t = Timestamp.fromDate(new Date("2026-11-25T10:00:00Z"));
  return {
    lastBackup: t,
    firestoreMembers: 10,
    apiMembers: 10,
    missingRecords: 0,
    status,
    continuations: 0,
    error: status === "failed" ? "failed" : null,
    updatedAt: t,
    runId: "20261125T100000000Z-000000",
    trigger: "schedule",
    startedAt: t,
    finishedAt: t,
    durationMs: 1000,
    errorCode: status === "failed" ? "server" : null,
    inSync,
    resources,
    lastCompletedAt: null,
    written: 0,
    errorRetryable: false,
    api: null,
    mode: "full",
    coverage: null,
    schemaDrift: {},
  };
}

describe("runSyncHealth (the summary entry's syncHealth)", () => {
  it("equals the status endpoint's computeSyncHealth for every combination", () => {
    const states = 64; // api null?, unstorable?, guarded?, error?, discrepancy kind (4)
    const [a, b, c] = RESOURCE_NAMES as [ResourceName, ResourceName, ResourceName];
    let compared = 0;
    for (const status of ["completed", "failed"] as const) {
      for (const inSync of [true, false]) {
        for (let x = 0; x < states; x += 1) {
          for (let y = 0; y < states; y += 1) {
            for (let z = 0; z < states; z += 1) {
              // The other resources in a healthy state: the rule looks at each on its own.
              const resources = {
                ...Object.fromEntries(RESOURCE_NAMES.map((n) => [n, stats(0)])),
                [a]: stats(x),
                [b]: stats(y),
                [c]: stats(z),
              } as Record<ResourceName, ResourceStats>;
              const fromLog = runSyncHealth({ status, inSync, resources });
              const fromStatus = computeSyncHealth(metadata(status, inSync, resources));
              if (JSON.stringify(fromLog) !== JSON.stringify(fromStatus)) {
                throw new Error(
                  `differs for ${status}/${inSync}/${x}/${y}/${z}: ${JSON.stringify(fromLog)} vs ${JSON.stringify(fromStatus)}`,
                );
              }
              compared += 1;
            }
          }
        }
      }
    }
    expect(compared).toBe(4 * states ** 3);
  });

  it("names every resource the backup mirrors", () => {
    const resources = Object.fromEntries(RESOURCE_NAMES.map((n) => [n, stats(0)])) as Record<
      ResourceName,
      ResourceStats
    >;
    expect(Object.keys(runSyncHealth({ status: "completed", inSync: true, resources }))).toEqual(
      RESOURCE_NAMES,
    );
  });
});
