/**
 * The product's own Firestore collection beside the mirrored ones (which the resource registry
 * names): backup metadata, run history, the lock and the webhook counters all live under it.
 */
export const METADATA_COLLECTION = "officeRndMetadata";
