import { z } from "zod";

/**
 * Zod schemas for what OfficeRnD's v2 API sends. Records are loose objects: fields we do not
 * know are kept as they came (the backup stores records as OfficeRnD returns them).
 */

/** OfficeRnD ids are 24-hex Mongo ObjectIds. */
export const officeRndId = z.string().regex(/^[0-9a-fA-F]{24}$/, "expected a 24-hex OfficeRnD id");

const isoTime = z.string().min(1).nullish();
const text = z.string().nullish();
const ref = z.string().nullish();
const customProperties = z.record(z.string(), z.unknown()).nullish();

/** Fields every OfficeRnD record carries. */
export const baseRecordSchema = z.looseObject({
  _id: officeRndId,
  createdAt: isoTime,
  modifiedAt: isoTime,
  createdBy: ref,
  modifiedBy: ref,
  properties: customProperties,
});

export const memberSchema = baseRecordSchema.extend({
  name: text,
  email: text,
  phone: text,
  company: ref,
  location: ref,
  status: text,
  calculatedStatus: text,
  startDate: isoTime,
});

export const companySchema = baseRecordSchema.extend({
  name: text,
  description: text,
  email: text,
  status: text,
  startDate: isoTime,
  location: ref,
});

export const opportunitySchema = baseRecordSchema.extend({
  name: text,
  member: ref,
  company: ref,
  status: ref,
  probability: z.number().nullish(),
  startDate: isoTime,
  dealSize: z.number().nullish(),
  membersCount: z.number().nullish(),
});

/** Locations carry no createdAt/modifiedAt (live, docs/officernd-api.md). */
export const locationSchema = z.looseObject({
  _id: officeRndId,
  name: text,
  code: text,
  timezone: text,
});

/** Events carry no createdAt/modifiedAt and filter on start/end (live). */
export const eventSchema = z.looseObject({
  _id: officeRndId,
  title: text,
  location: ref,
  start: isoTime,
  end: isoTime,
});

/** A booking just created had no modifiedAt (live). */
export const bookingSchema = baseRecordSchema.extend({
  resourceId: ref,
  member: ref,
  company: ref,
  location: ref,
  canceled: z.boolean().nullish(),
});

/**
 * What makes a record storable: an object with a valid `_id`. Everything else is stored as
 * OfficeRnD sent it; the resource schemas above only detect drift (docs/officernd-api.md:
 * "expect nulls, empty objects, unicode, and fields not listed here").
 */
export const recordIdentitySchema = z.looseObject({ _id: officeRndId });

/** A record as OfficeRnD sent it: a valid `_id` and any other fields, of any type. */
export type OfficeRndRecord = z.infer<typeof recordIdentitySchema>;
export type Member = z.infer<typeof memberSchema>;
export type Company = z.infer<typeof companySchema>;
export type Opportunity = z.infer<typeof opportunitySchema>;

/**
 * One page of a v2 list. Records stay `unknown` here so each one is validated on its own and a
 * bad record is counted and reported instead of failing (or silently shrinking) the whole page.
 */
export const pageEnvelopeSchema = z.looseObject({
  results: z.array(z.unknown()),
  cursorNext: z.string().min(1).nullish(),
  cursorPrev: z.string().nullish(),
  rangeStart: z.number().nullish(),
  rangeEnd: z.number().nullish(),
});
export type PageEnvelope = z.infer<typeof pageEnvelopeSchema>;

/** Answer of `GET /{resource}/count` (live: `{"total": N}`). */
export const countResponseSchema = z.looseObject({ total: z.number().int().min(0) });

/** Answer of POST /oauth/token (client credentials). */
export const tokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.coerce.number().positive(),
  scope: z.string().optional(),
});
export type TokenResponse = z.infer<typeof tokenResponseSchema>;
