import { apiGroup } from "./api-group";
import { BUDGET_GROUP } from "./budget-group";
import { CLI_GROUP } from "./cli-group";
import { CONCURRENCY_GROUP } from "./concurrency-group";
import { ENGINE_CASES } from "./engine-cases";
import { FIRESTORE_CASES } from "./firestore-cases";
import { HTTP_GROUP } from "./http-group";
import { LEASES_GROUP } from "./leases-group";
import { API_CASES } from "./officernd-cases";
import { OUTAGE_GROUP } from "./outage-group";
import { registerSuite } from "./suite";
import { WEBHOOKS_GROUP } from "./webhooks-group";

/**
 * Reliability: faults, bad input and load, end to end. Every case runs against the real Firestore
 * emulator and the local OfficeRnD sandbox, starting from a Firestore copy with known content
 * (OfficeRnD's records with drift: missing, stale and orphaned documents), and asserts:
 *   1. the run's final status is right (completed; failed with a clear error in the metadata and
 *      in /errors; busy),
 *   2. no known document was deleted, blanked or overwritten with invalid data,
 *   3. after the fault clears, one normal run converges Firestore to OfficeRnD exactly,
 *   4. no secret (client secret, issued tokens, status token) is in logs, Firestore or responses.
 * The engine's finer points (per-fault unit behaviour) live in test/backup and test/officernd; this
 * is the table-shaped proof, and its rows become docs/reliability.md (`npm run test:faults`).
 * One file, so the cases run one after another and their rows make one table; each group is a
 * module of its own (./*-group.ts, ./*-cases.ts).
 */

registerSuite([
  apiGroup("OfficeRnD", "OfficeRnD faults", API_CASES),
  apiGroup("Engine", "Engine rules (races with webhooks, removals)", ENGINE_CASES),
  BUDGET_GROUP,
  OUTAGE_GROUP,
  apiGroup("Firestore", "Firestore faults at the client's requests", FIRESTORE_CASES),
  LEASES_GROUP,
  CONCURRENCY_GROUP,
  WEBHOOKS_GROUP,
  HTTP_GROUP,
  CLI_GROUP,
]);
