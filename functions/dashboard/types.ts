/**
 * The two answers the page reads, as the API declares them (src/status/schema.ts). Type-only
 * imports: nothing of the server is bundled.
 */
export type {
  Alert,
  BackupRunSummary,
  BackupRunsResponse,
  BackupStatusResponse,
} from "../src/status/schema";
