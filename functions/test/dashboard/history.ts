import { Timestamp, type Firestore } from "firebase-admin/firestore";
import { saveCheckpoint, saveProgress } from "../../src/backup/checkpoint";
import type { BackupMetadata } from "../../src/backup/documents";
import { runsRef } from "../../src/backup/metadata";
import { emptyProgress } from "../../src/backup/progress";
import { schemaFieldsRef } from "../../src/backup/run-state";
import { makeRun, type RunSpec } from "../status/fixtures";

const DAY = 86_400_000;

/**
 * Two weeks of daily runs as the dashboard shows them: the data growing, one run that found and
 * repaired drift, one failure recovered the next day, and a latest run that found 12 missing
 * records (an open alert). Oldest first.
 */
export function twoWeeksOfRuns(now: Date): BackupMetadata[] {
  const runs: BackupMetadata[] = [];
  for (let day = 1; day <= 14; day++) {
    const finishedAt = new Date(now.getTime() - (14 - day) * DAY - 3_600_000);
    const grow = (base: number) => base + day;
    const spec: RunSpec = {
      label: `day${day}`,
      finishedAt,
      durationMs: 40_000 + day * 1_000,
      resources: {
        members: { firestore: grow(140), api: grow(140) },
        opportunities: { firestore: 60 + Math.floor(day / 2), api: 60 + Math.floor(day / 2) },
        companies: { firestore: 20 + Math.floor(day / 3), api: 20 + Math.floor(day / 3) },
      },
    };
    if (day === 5) {
      spec.resources!.members = {
        firestore: grow(137),
        api: grow(140),
        missing: 3,
        changed: 2,
        written: 5,
      };
    }
    if (day === 9) {
      Object.assign(spec, {
        status: "failed",
        errorCode: "server",
        error: "members: OfficeRnD answered 503 three times",
        lastCompletedAt: null,
      });
      spec.resources!.members = { firestore: grow(140), api: null };
    }
    if (day === 14) {
      spec.resources!.members = { firestore: grow(128), api: grow(140), missing: 12, written: 12 };
    }
    runs.push(makeRun(spec));
  }
  return runs;
}

/**
 * What the page shows beside the runs: the latest incremental sync (one type left to the full
 * backup), a schema change in members, and a full run going on from its checkpoint.
 */
export async function writeBesideRuns(db: Firestore, now: Date): Promise<void> {
  const incremental = makeRun({
    label: "incremental",
    finishedAt: new Date(now.getTime() - 20 * 60_000),
    durationMs: 2_500,
    resources: { members: { api: 4, written: 3 } },
  });
  await runsRef(db, "incremental")
    .doc(incremental.runId)
    .set({
      ...incremental,
      mode: "incremental",
      coverage: {
        members: { read: "incremental", since: now.toISOString(), note: null },
        opportunities: {
          read: "filter_refused",
          since: null,
          note: "OfficeRnD refused the modifiedAt filter",
        },
      },
    });
  const at = Timestamp.fromDate(now);
  await schemaFieldsRef(db).set({
    resources: {
      members: {
        fields: ["_id", "email", "modifiedAt", "name", "nickname"],
        updatedAt: at,
        runId: incremental.runId,
        lastChange: {
          added: ["nickname"],
          removed: ["fax"],
          at,
          runId: incremental.runId,
          mode: "full",
        },
      },
    },
  });
  const runId = "20261201T020000000Z-going-on";
  await saveCheckpoint(
    db,
    {
      runId,
      trigger: "schedule",
      startedAt: Timestamp.fromDate(new Date(now.getTime() - 3_600_000)),
      listingStartedAt: now.getTime() - 3_600_000,
      continuations: 2,
      resources: ["members", "companies"],
      endedFailed: false,
      updatedAt: at,
    },
    10_000,
  );
  await saveProgress(
    db,
    runId,
    "members",
    { ...emptyProgress(), api: 61_250, written: 1_200, listed: false },
    10_000,
  );
  await saveProgress(
    db,
    runId,
    "companies",
    { ...emptyProgress(), api: 2_000, listed: true, counted: true, settled: true },
    10_000,
  );
}
