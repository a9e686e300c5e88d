import type { Firestore } from "firebase-admin/firestore";
import { readBackupRuns } from "../backup/metadata";
import { readRunState } from "../backup/run-state";
import { perResource, RESOURCE_NAMES } from "../officernd/resources";
import { logs } from "../logs";
import type { BackupStatusResponse } from "./schema";

/**
 * The status's `incrementalSync` and `schemaDrift` fields, after the design's: the latest
 * incremental run (officeRndIncrementalSync or `run --mode incremental`) and the high-water marks
 * it reads from; per type, how many top-level fields its records have and the latest change
 * found. Two document reads and one history query.
 */

type Extra = Pick<BackupStatusResponse, "incrementalSync" | "schemaDrift">;

export async function readIncrementalStatus(db: Firestore, timeoutMs: number): Promise<Extra> {
  const [state, history] = await Promise.all([
    readRunState(db, timeoutMs),
    readBackupRuns(db, 1, ["incremental"]),
  ]);
  for (const bad of history.invalid) {
    logs.statusDocumentInvalid({ path: bad.path, issues: bad.issues });
  }
  const last = history.runs[0] ?? null;
  const read = (name: (typeof RESOURCE_NAMES)[number]) => last?.coverage?.[name]?.read;
  return {
    incrementalSync: {
      lastRun: last && {
        runId: last.runId,
        trigger: last.trigger,
        status: last.status === "completed" ? "completed" : "failed",
        startedAt: last.startedAt.toDate().toISOString(),
        finishedAt: last.finishedAt.toDate().toISOString(),
        written: last.written,
        error:
          last.status === "completed" ? null : { code: last.errorCode, message: last.error ?? "" },
        resources: Object.fromEntries(
          RESOURCE_NAMES.filter((n) => read(n) === "incremental").map((n) => [
            n,
            { api: last.resources[n].api, written: last.resources[n].written },
          ]),
        ),
        fullBackupOnly: Object.fromEntries(
          RESOURCE_NAMES.filter((n) => read(n) !== undefined && read(n) !== "incremental").map(
            (n) => [n, last.coverage?.[n]?.note ?? ""],
          ),
        ),
      },
      highWaterMarks: perResource((n) => state.highWaterMarks.get(n)?.toISOString() ?? null),
    },
    schemaDrift: perResource((n) => {
      const known = state.fields[n];
      const change = known?.lastChange ?? null;
      return {
        fields: known ? known.fields.length : null,
        lastChange: change && {
          at: change.at.toDate().toISOString(),
          runId: change.runId,
          mode: change.mode,
          added: change.added,
          removed: change.removed,
        },
      };
    }),
  };
}
