import type { BackupMetadata } from "../backup/documents";
import { computeAlerts, computeSyncHealth } from "../status/metrics";
import type { Alert, AlertCode } from "../status/schema";
import { DEFAULT_STALE_AFTER_HOURS } from "../status/status";

/**
 * The alert conditions operators are told about: the design document's four. They are the
 * status endpoint's alerts (../status/metrics.ts computeAlerts), evaluated on the same metadata,
 * so a message never says something the status and the dashboard do not. `backup_never_run` is
 * left out: before the first run there is nothing to tell, and a fresh deployment would page.
 */
export const NOTIFIED_CONDITIONS = [
  "backup_failed",
  "missing_records_high",
  "backup_stale",
  "out_of_sync",
] as const satisfies readonly AlertCode[];
export type NotifiedCondition = (typeof NOTIFIED_CONDITIONS)[number];

/** Short names, in the runbook's words (docs/runbook.md, Alerts). */
export const CONDITION_TITLES: Record<NotifiedCondition, string> = {
  backup_failed: "Backup failed",
  missing_records_high: "Many missing records",
  backup_stale: "No completed backup in 48 hours",
  out_of_sync: "A data type is out of sync",
};

/** Where the runbook says what to do (a section of docs/runbook.md). */
export const RUNBOOK_SECTIONS: Record<NotifiedCondition, string> = {
  backup_failed: "Backup failing",
  missing_records_high: "High missing records",
  backup_stale: "Backup failing",
  out_of_sync: "Data corruption",
};

export interface OpenAlert extends Alert {
  code: NotifiedCondition;
}

export function isNotified(code: AlertCode): code is NotifiedCondition {
  return (NOTIFIED_CONDITIONS as readonly AlertCode[]).includes(code);
}

/** The conditions open now, in NOTIFIED_CONDITIONS order, with the status endpoint's messages. */
export function openConditions(
  latest: BackupMetadata | null,
  options: { now: Date; missingAlertThreshold: number; staleAfterHours?: number },
): OpenAlert[] {
  const alerts = computeAlerts(latest, computeSyncHealth(latest), {
    now: options.now,
    missingAlertThreshold: options.missingAlertThreshold,
    staleAfterHours: options.staleAfterHours ?? DEFAULT_STALE_AFTER_HOURS,
  });
  const open = alerts.filter((a): a is OpenAlert => isNotified(a.code));
  return NOTIFIED_CONDITIONS.flatMap((code) => open.filter((a) => a.code === code));
}
