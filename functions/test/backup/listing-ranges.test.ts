import {
  combineRanges,
  evenPoints,
  objectIdAt,
  objectIdSeconds,
  rangesFor,
  splittable,
  validPoints,
} from "../../src/backup/listing-ranges";
import { emptyProgress } from "../../src/backup/progress";

/** The ranges of a split listing (src/backup/listing-ranges.ts): bounds, coverage, combination. */

it("cuts at whole seconds: createdAt filters on OfficeRnD's side, ObjectId bounds on Firestore's", () => {
  const t = Date.UTC(2024, 0, 1) / 1000;
  const ranges = rangesFor([t, t + 3600]);
  expect(ranges).toHaveLength(3);
  // First without a lower bound, last without an upper one: every createdAt is in one range.
  expect(ranges[0]).toMatchObject({
    from: null,
    before: objectIdAt(t),
    filters: [{ field: "createdAt", op: "$lt", value: "2024-01-01T00:00:00.000Z" }],
  });
  expect(ranges[1]?.filters).toEqual([
    { field: "createdAt", op: "$gte", value: "2024-01-01T00:00:00.000Z" },
    { field: "createdAt", op: "$lt", value: "2024-01-01T01:00:00.000Z" },
  ]);
  expect(ranges[2]).toMatchObject({ from: objectIdAt(t + 3600), before: null });
  // An ObjectId's first 8 hex digits are its second (docs/officernd-api.md, "Records").
  expect(objectIdAt(t)).toBe("65920080" + "0".repeat(16));
  expect(objectIdSeconds("65920080abcdef0123456789")).toBe(t);
  expect(objectIdSeconds("not-an-object-id")).toBeNull();
});

it("splits only types with a createdAt range and /count (members; not companies)", () => {
  expect(splittable("members")).toBe(true);
  expect(splittable("companies")).toBe(false); // no /count: a record without createdAt would be lost
  expect(splittable("opportunities")).toBe(false); // createdAt range not verified
});

it("checks points: whole, ascending, fewer than 8 ranges", () => {
  expect(validPoints([1, 2, 3])).toBe(true);
  expect(validPoints([2, 1])).toBe(false);
  expect(validPoints([])).toBe(false);
  expect(validPoints([1, 2, 3, 4, 5, 6, 7, 8])).toBe(false);
  expect(evenPoints(0, 400, 4)).toEqual([100, 200, 300]);
});

it("sums the ranges as one listing and drops candidates another range listed (strays)", () => {
  const a = { ...emptyProgress(), listed: true, api: 10, firestore: 9, candidates: 2 };
  a.candidateIds = ["aa", "ab"];
  a.fields = ["name"];
  const b = {
    ...emptyProgress(),
    listed: true,
    api: 5,
    firestore: 6,
    candidates: 1,
    strayCount: 1,
  };
  b.candidateIds = ["ba"];
  b.strays = ["ab"];
  b.fields = ["email"];
  const { progress, droppedStrays } = combineRanges({ points: [1] }, [a, b], 100);
  expect(droppedStrays).toBe(1);
  expect(progress).toMatchObject({
    listed: true,
    api: 15,
    firestore: 15,
    candidates: 2,
    candidateIds: ["aa", "ba"],
    strayCount: 1,
    fields: ["email", "name"],
    split: { points: [1] },
  });
  // A range not listed yet: not listed (a stray may still come from it).
  expect(combineRanges({ points: [1] }, [a, { ...b, listed: false }], 100).progress.listed).toBe(
    false,
  );
  // Capped: the candidates beyond the ids kept stay counted (the removals are then held).
  const capped = combineRanges({ points: [1] }, [a, b], 1).progress;
  expect(capped.candidates - capped.candidateIds.length).toBe(1);
});
