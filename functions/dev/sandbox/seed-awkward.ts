import { IdFactory, iso, Prng, type SandboxRecord } from "./seed-basics";

/**
 * Members that make a createdAt-range listing awkward (src/backup/split-listing.ts), as OfficeRnD
 * can send them (docs/officernd-api.md, "Records"): generated records' ids agree with their
 * createdAt (./seed.ts: the id's first 8 hex digits are the createdAt second), these do not.
 * - `imported`: the id's time and `createdAt` years apart ("imported data has createdAt unrelated
 *   to the _id time"): listed by the createdAt range of the one time, stored in the id range of
 *   the other;
 * - `withoutCreatedAt`: no `createdAt` at all: in no createdAt range (a range filter matches no
 *   missing field), so only `/count` shows them missing from a split listing.
 * Each is a copy of a `template` member under a new id; deterministic for a seed.
 */
export interface AwkwardMembers {
  imported: SandboxRecord[];
  withoutCreatedAt: SandboxRecord[];
}

export function awkwardMembers(
  template: SandboxRecord,
  counts: { imported?: number; withoutCreatedAt?: number },
  seed = 7,
): AwkwardMembers {
  const rng = new Prng(seed);
  const ids = new IdFactory(rng);
  const at = (year: number) => Date.UTC(year, rng.int(0, 11), rng.int(1, 28), rng.int(0, 23));
  const imported = Array.from({ length: counts.imported ?? 0 }, (_, i) => {
    // Half created (by id) long before their createdAt, half long after.
    const [idYear, createdYear] = i % 2 === 0 ? [2019, 2025] : [2025, 2019];
    return {
      ...template,
      _id: ids.next(at(idYear)),
      name: `Imported ${i}`,
      createdAt: iso(at(createdYear)),
    };
  });
  const withoutCreatedAt = Array.from({ length: counts.withoutCreatedAt ?? 0 }, (_, i) => {
    const { createdAt: _createdAt, ...rest } = template;
    return { ...rest, _id: ids.next(at(2022)), name: `No createdAt ${i}` };
  });
  return { imported, withoutCreatedAt };
}
