/**
 * Deterministic, realistic OfficeRnD records for the sandbox: the same seed gives the same data
 * on every machine (a small seeded PRNG, never Math.random). Records carry what the real API
 * sends and what trips naive code: unicode and emoji, nulls, empty objects, nested custom
 * `properties`, references between resources and fields no schema lists. No array ever sits
 * directly inside another array (Firestore cannot store that).
 */

import {
  EPOCH_START,
  IdFactory,
  iso,
  Prng,
  timestamps,
  type JsonValue,
  type SandboxRecord,
} from "./seed-basics";

import { booking, event, location } from "./seed-space";

export { Prng, type JsonValue, type SandboxRecord } from "./seed-basics";

export const SANDBOX_RESOURCES = [
  "members",
  "companies",
  "opportunities",
  "locations",
  "events",
  "bookings",
] as const;
export type SandboxResource = (typeof SANDBOX_RESOURCES)[number];

export type SandboxDataset = Record<SandboxResource, SandboxRecord[]>;

export interface SeedOptions {
  members?: number;
  companies?: number;
  opportunities?: number;
  locations?: number;
  events?: number;
  bookings?: number;
  /** PRNG seed; the same seed and sizes give identical records. */
  seed?: number;
}

/** Small by default and deliberately not multiples of the 50-record page. */
export const DEFAULT_SEED_SIZES = {
  members: 120,
  companies: 30,
  opportunities: 45,
  locations: 3,
  events: 25,
  bookings: 180,
} as const;
export const DEFAULT_SEED = 20261125;

const FIRST_NAMES = [
  "Zoë",
  "Ångström",
  "José",
  "Łukasz",
  "Øyvind",
  "Siobhán",
  "Björn",
  "Chloé",
  "Nguyễn",
  "Renée",
  "Mohammed",
  "Ana",
  "Émile",
  "Dvořák",
  "Σοφία",
  "Ольга",
  "Anna",
  "Tom",
  "Priya",
  "Kofi",
];
const LAST_NAMES = [
  "Ångström",
  "Müller",
  "O'Brien",
  "García-López",
  "Nowak",
  "Þórsdóttir",
  "van der Berg",
  "Smith",
  "Kowalczyk",
  "Çelik",
  "Søren",
  "Papadopoulos",
  "Jones",
  "Mensah",
];
/** Whole names that do not follow "first last". */
const WHOLE_NAMES = [
  "渡辺 さくら",
  "김민준",
  "محمد الأحمد",
  "李 小龙",
  "Zoë Ångström",
  "Ana 🌻 Silva",
];
const COMPANY_WORDS = [
  "Café ☕",
  "Nordlys",
  "Ünïcode",
  "Atelier",
  "🚀 Rocket",
  "Kōbō",
  "Straße",
  "Blue",
  "Østerbro",
  "Digital",
  "さくら",
  "Green",
];
const COMPANY_SUFFIXES = ["Labs", "GmbH", "Collective", "& Co.", "Studio", "株式会社", "Ltd", "SA"];
const MEMBER_STATUSES = ["active", "active", "active", "contact", "former", "pending"];
const COMPANY_STATUSES = ["active", "active", "former", "contact"];
const T_SHIRTS = ["XS", "S", "M", "L", "XL"];
const TAGS = ["vip", "founder", "night-owl", "🐶 dog owner", "remote", "investor"];
const CITIES = ["London", "Sofia", "München", "São Paulo", "東京", "Reykjavík", "New York"];

/** Fixed reference ids (locations, staff, opportunity statuses, plans) shared by all records. */
interface Refs {
  locations: string[];
  staff: string[];
  opportunityStatuses: string[];
  plans: string[];
  resources: string[];
}

function slug(name: string): string {
  const ascii = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^A-Za-z0-9]+/g, ".")
    .replace(/^\.+|\.+$/g, "")
    .toLowerCase();
  return ascii === "" ? "member" : ascii;
}

function personName(rng: Prng): string {
  if (rng.chance(0.15)) return rng.pick(WHOLE_NAMES);
  return `${rng.pick(FIRST_NAMES)} ${rng.pick(LAST_NAMES)}`;
}

function memberProperties(rng: Prng): { [key: string]: JsonValue } {
  if (rng.chance(0.1)) return {};
  const props: { [key: string]: JsonValue } = {
    tShirtSize: rng.pick(T_SHIRTS),
    newsletter: rng.chance(0.6),
    linkedIn: rng.chance(0.5) ? `https://www.linkedin.com/in/${rng.hex(8)}` : null,
    tags: rng.chance(0.7) ? [rng.pick(TAGS), rng.pick(TAGS)] : [],
  };
  if (rng.chance(0.4)) {
    props.emergencyContact = {
      name: personName(rng),
      phone: `+44 20 ${rng.int(1000, 9999)} ${rng.int(1000, 9999)}`,
    };
  }
  if (rng.chance(0.2))
    props.dietary = { vegetarian: rng.chance(0.5), notes: rng.chance(0.5) ? "no nuts 🥜" : null };
  return props;
}

function member(
  rng: Prng,
  ids: IdFactory,
  refs: Refs,
  companyIds: readonly string[],
): SandboxRecord {
  const t = timestamps(rng);
  const name = personName(rng);
  const record: SandboxRecord = {
    _id: ids.next(t.createdMs),
    name,
    email: rng.chance(0.9) ? `${slug(name)}.${rng.hex(4)}@example.com` : null,
    phone: rng.chance(0.6) ? `+359 88 ${rng.int(100, 999)} ${rng.int(1000, 9999)}` : null,
    company: companyIds.length > 0 && rng.chance(0.8) ? rng.pick(companyIds) : null,
    location: rng.pick(refs.locations),
    status: rng.pick(MEMBER_STATUSES),
    calculatedStatus: rng.pick(MEMBER_STATUSES),
    startDate: rng.chance(0.8) ? iso(t.createdMs + rng.int(0, 30) * 86_400_000) : null,
    properties: memberProperties(rng),
    createdAt: t.createdAt,
    createdBy: rng.pick(refs.staff),
    modifiedAt: t.modifiedAt,
    modifiedBy: rng.chance(0.9) ? rng.pick(refs.staff) : null,
    // Fields no schema lists: the backup must keep them as they came.
    x_legacyCode: rng.chance(0.3) ? `LG-${rng.int(0, 99999).toString().padStart(5, "0")}` : null,
    image: rng.chance(0.3) ? `https://cdn.example.com/avatars/${rng.hex(12)}.png` : null,
    contacts: rng.chance(0.5)
      ? [
          { type: "email", value: `alt.${rng.hex(6)}@example.org`, primary: false },
          { type: "slack", value: `@${rng.hex(5)}`, labels: ["work", "chat"] },
        ]
      : [],
  };
  if (rng.chance(0.1))
    record.x_importedFrom = { system: "Nexudus", at: t.createdAt, raw: { id: rng.int(1, 1e6) } };
  // Live: `properties` is left out entirely when a member has none (docs/officernd-api.md).
  const { properties } = record;
  if (properties !== null && typeof properties === "object" && Object.keys(properties).length === 0)
    delete record.properties;
  return record;
}

function company(rng: Prng, ids: IdFactory, refs: Refs): SandboxRecord {
  const t = timestamps(rng);
  const name = `${rng.pick(COMPANY_WORDS)} ${rng.pick(COMPANY_WORDS)} ${rng.pick(COMPANY_SUFFIXES)}`;
  return {
    _id: ids.next(t.createdMs),
    name,
    description: rng.chance(0.5) ? `${name} — coworking since ${t.createdAt.slice(0, 4)} ✨` : null,
    email: rng.chance(0.8) ? `billing.${rng.hex(6)}@example.com` : null,
    status: rng.pick(COMPANY_STATUSES),
    startDate: rng.chance(0.7) ? iso(t.createdMs) : null,
    location: rng.pick(refs.locations),
    billingDetails: rng.chance(0.8)
      ? {
          address: {
            street: `${rng.int(1, 200)} Rue de l'Église`,
            city: rng.pick(CITIES),
            postCode: rng.chance(0.8) ? rng.int(1000, 99999).toString() : null,
          },
          vatNumber: rng.chance(0.5) ? `BG${rng.int(100000000, 999999999)}` : null,
        }
      : {},
    properties: rng.chance(0.2)
      ? {}
      : {
          industry: rng.pick(["tech", "design", "law", "food"]),
          seats: rng.int(1, 40),
          tags: [rng.pick(TAGS)],
        },
    createdAt: t.createdAt,
    createdBy: rng.pick(refs.staff),
    modifiedAt: t.modifiedAt,
    modifiedBy: rng.pick(refs.staff),
    x_legacyCode: rng.chance(0.4) ? `CO-${rng.hex(6).toUpperCase()}` : null,
    integrations: rng.chance(0.3)
      ? [{ provider: "xero", externalId: rng.hex(16), sync: { enabled: true } }]
      : [],
  };
}

function opportunity(
  rng: Prng,
  ids: IdFactory,
  refs: Refs,
  memberIds: readonly string[],
  companyIds: readonly string[],
): SandboxRecord {
  const t = timestamps(rng);
  return {
    _id: ids.next(t.createdMs),
    name: `${rng.pick(["Private office", "Hot desk", "Meeting room", "Team space 👥"])} for ${rng.pick(WHOLE_NAMES)}`,
    member: memberIds.length > 0 && rng.chance(0.7) ? rng.pick(memberIds) : null,
    company: companyIds.length > 0 && rng.chance(0.6) ? rng.pick(companyIds) : null,
    status: rng.pick(refs.opportunityStatuses),
    probability: rng.chance(0.85) ? rng.pick([0, 10, 25, 50, 75, 90, 100]) : null,
    startDate: rng.chance(0.6) ? iso(t.createdMs + rng.int(1, 90) * 86_400_000) : null,
    dealSize: rng.chance(0.8) ? rng.int(100, 250_000) / 100 : null,
    membersCount: rng.chance(0.9) ? rng.int(1, 25) : null,
    resources: rng.chance(0.6)
      ? [{ resource: rng.pick(refs.resources), type: rng.pick(["desk", "office"]) }]
      : [],
    requestedPlans: rng.chance(0.5)
      ? [{ plan: rng.pick(refs.plans), count: rng.int(1, 5), discount: null }]
      : [],
    properties: rng.chance(0.3)
      ? {}
      : { source: rng.pick(["website", "referral", "walk-in 🚶"]), score: rng.next() },
    createdAt: t.createdAt,
    createdBy: rng.pick(refs.staff),
    modifiedAt: t.modifiedAt,
    modifiedBy: rng.chance(0.8) ? rng.pick(refs.staff) : null,
    x_pipeline: { stage: rng.int(1, 6), history: [{ at: t.createdAt, by: rng.pick(refs.staff) }] },
  };
}

function byId(a: SandboxRecord, b: SandboxRecord): number {
  return a._id < b._id ? -1 : a._id > b._id ? 1 : 0;
}

/**
 * Records for the three resources, each list ordered by `_id` (as the API serves them).
 * 10,000 / 2,000 / 5,000 records take well under a second.
 */
export function seedData(options: SeedOptions = {}): SandboxDataset {
  const sizes = {
    members: options.members ?? DEFAULT_SEED_SIZES.members,
    companies: options.companies ?? DEFAULT_SEED_SIZES.companies,
    opportunities: options.opportunities ?? DEFAULT_SEED_SIZES.opportunities,
    locations: options.locations ?? DEFAULT_SEED_SIZES.locations,
    events: options.events ?? DEFAULT_SEED_SIZES.events,
    bookings: options.bookings ?? DEFAULT_SEED_SIZES.bookings,
  };
  for (const [name, n] of Object.entries(sizes)) {
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`seedData: ${name} must be a whole number ≥ 0`);
  }
  const rng = new Prng(options.seed ?? DEFAULT_SEED);
  const ids = new IdFactory(rng);
  const refId = () => ids.next(EPOCH_START);
  const many = (n: number) => Array.from({ length: n }, refId);
  const refs: Refs = {
    locations: many(3),
    staff: many(5),
    opportunityStatuses: many(6),
    plans: many(4),
    resources: many(8),
  };

  const companies = Array.from({ length: sizes.companies }, () => company(rng, ids, refs));
  const companyIds = companies.map((c) => c._id);
  const members = Array.from({ length: sizes.members }, () => member(rng, ids, refs, companyIds));
  const memberIds = members.map((m) => m._id);
  const opportunities = Array.from({ length: sizes.opportunities }, () =>
    opportunity(rng, ids, refs, memberIds, companyIds),
  );
  // Generated after the first three, so their records do not change with these sizes.
  const locationIds = [
    ...refs.locations.slice(0, sizes.locations),
    ...Array.from({ length: Math.max(0, sizes.locations - refs.locations.length) }, refId),
  ];
  const locations = locationIds.map((id, i) => location(rng, id, i));
  const events = Array.from({ length: sizes.events }, () => event(rng, ids, locationIds));
  const bookings = Array.from({ length: sizes.bookings }, () =>
    booking(rng, ids, refs, locationIds, memberIds, companyIds),
  );
  return {
    members: members.sort(byId),
    companies: companies.sort(byId),
    opportunities: opportunities.sort(byId),
    locations: locations.sort(byId),
    events: events.sort(byId),
    bookings: bookings.sort(byId),
  };
}
