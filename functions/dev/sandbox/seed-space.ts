import {
  EPOCH_END,
  EPOCH_START,
  type IdFactory,
  iso,
  type Prng,
  type SandboxRecord,
} from "./seed-basics";

/**
 * Generated locations, events and bookings, shaped as docs/officernd-api.md says: locations and
 * events carry no `createdAt`/`modifiedAt`; a booking just created had no `modifiedAt` (live);
 * events filter on `start`/`end`. Bookings are the many records (several per member a month).
 */

const CITIES = ["London", "Sofia", "München", "São Paulo", "東京"];
const TIME_ZONES = [
  "Europe/London",
  "Europe/Sofia",
  "Europe/Berlin",
  "America/Sao_Paulo",
  "Asia/Tokyo",
];
const EVENT_TITLES = [
  "Founders' breakfast ☕",
  "Friday drinks 🍻",
  "Yoga at lunch",
  "Demo day",
  "Ünïcode meetup",
];

export function location(rng: Prng, id: string, index: number): SandboxRecord {
  const city = CITIES[index % CITIES.length] ?? "London";
  return {
    _id: id,
    name: `${city} ${rng.pick(["Central", "Hub", "Loft", "Campus"])}`,
    code: city.slice(0, 3).toUpperCase() + String(index + 1),
    timezone: TIME_ZONES[index % TIME_ZONES.length] ?? "Europe/London",
    address: {
      street: `${rng.int(1, 300)} High Street`,
      city,
      country: rng.pick(["GB", "BG", "DE"]),
    },
    isOpen: rng.chance(0.9),
    image: rng.chance(0.4) ? `https://cdn.example.com/locations/${rng.hex(8)}.jpg` : null,
  };
}

export function event(rng: Prng, ids: IdFactory, locationIds: readonly string[]): SandboxRecord {
  const startMs = rng.int(EPOCH_START, EPOCH_END);
  return {
    _id: ids.next(startMs - rng.int(1, 30) * 86_400_000),
    title: rng.pick(EVENT_TITLES),
    description: rng.chance(0.6) ? "Bring a friend — everyone welcome ✨" : null,
    location: locationIds.length > 0 ? rng.pick(locationIds) : null,
    start: iso(startMs),
    end: iso(startMs + rng.int(1, 4) * 3_600_000),
    isPublic: rng.chance(0.5),
    tags: rng.chance(0.3) ? ["community"] : [],
  };
}

export function booking(
  rng: Prng,
  ids: IdFactory,
  refs: { staff: readonly string[]; resources: readonly string[] },
  locationIds: readonly string[],
  memberIds: readonly string[],
  companyIds: readonly string[],
): SandboxRecord {
  const createdMs = rng.int(EPOCH_START, EPOCH_END - 86_400_000);
  const startMs = createdMs + rng.int(1, 60) * 3_600_000;
  const record: SandboxRecord = {
    _id: ids.next(createdMs),
    resourceId: rng.pick(refs.resources),
    location: locationIds.length > 0 ? rng.pick(locationIds) : null,
    member: memberIds.length > 0 && rng.chance(0.9) ? rng.pick(memberIds) : null,
    company: companyIds.length > 0 && rng.chance(0.5) ? rng.pick(companyIds) : null,
    start: { dateTime: iso(startMs) },
    end: { dateTime: iso(startMs + rng.int(1, 8) * 1_800_000) },
    canceled: rng.chance(0.1),
    source: rng.pick(["admin", "member-portal", "app"]),
    fees: rng.chance(0.3) ? [{ name: "Meeting room", price: rng.int(500, 5000) / 100 }] : [],
    createdAt: iso(createdMs),
    createdBy: rng.pick(refs.staff),
  };
  // Live: a booking just created had no modifiedAt.
  if (rng.chance(0.8)) record.modifiedAt = iso(rng.int(createdMs, EPOCH_END));
  return record;
}
