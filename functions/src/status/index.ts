export {
  DEFAULT_HISTORY_LIMIT,
  DEFAULT_STALE_AFTER_HOURS,
  getBackupStatus,
  listRecentBackups,
  toRunSummary,
  type BackupStatusOptions,
} from "./status";
export {
  ALERT_CODES,
  BACKUP_STATE,
  alertSchema,
  backupRunSummarySchema,
  backupRunsResponseSchema,
  backupStatusResponseSchema,
  type Alert,
  type AlertCode,
  type BackupRunSummary,
  type BackupRunsResponse,
  type BackupState,
  type BackupStatusResponse,
} from "./schema";
export {
  DEFAULT_COUNTS_MAX_AGE_MS,
  cachedCounts,
  liveCounts,
  type CountSource,
  type FirestoreCounts,
} from "./counts";
export { InvalidBackupDocumentError } from "../backup/metadata";
