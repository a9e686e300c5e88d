import type { BackupMetadata } from "../../src/backup/documents";
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
