import { parsePhoneNumberWithError, type CountryCode } from 'libphonenumber-js/max';
import { AppError } from '../errors.js';
import type { IdentityKind, RawIdentity } from '../interactions/inbound-contact.js';

export interface NormalizedIdentity {
  kind: IdentityKind;
  value: string;
  raw: string;
}

// Deliberately simple: one @, something on both sides, a dot in the domain. RFC 5322 allows far more, but
// identities come from headers mailparser already split, so this only rejects garbage.
const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** E.164 for a phone or fax number; numbers without a country code are read in `region`. */
export function normalizePhone(raw: string, region: CountryCode): string {
  const trimmed = raw.trim().replace(/^00/, '+');
  let parsed;
  try {
    parsed = parsePhoneNumberWithError(trimmed, region);
  } catch {
    throw new AppError('INVALID_IDENTITY', `'${raw}' is not a phone number`);
  }
  if (!parsed.isPossible()) throw new AppError('INVALID_IDENTITY', `'${raw}' is not a possible phone number`);
  return parsed.number;
}

export function normalizeEmail(raw: string): string {
  // Display-name forms ("Ann <ann@x.org>") are accepted; only the address is kept.
  const angle = /<([^>]+)>/.exec(raw);
  const value = (angle?.[1] ?? raw).trim().toLowerCase();
  if (!emailPattern.test(value) || value.length > 320)
    throw new AppError('INVALID_IDENTITY', `'${raw}' is not an email address`);
  return value;
}

export function normalizeIdentity(identity: RawIdentity, region: CountryCode): NormalizedIdentity {
  const raw = identity.value;
  switch (identity.kind) {
    case 'phone':
    case 'fax':
      return { kind: identity.kind, value: normalizePhone(raw, region), raw };
    case 'email':
      return { kind: 'email', value: normalizeEmail(raw), raw };
    case 'chat_visitor': {
      const value = raw.trim();
      if (!value || value.length > 200)
        throw new AppError('INVALID_IDENTITY', 'a chat visitor id is 1-200 characters');
      return { kind: 'chat_visitor', value, raw };
    }
  }
}

/** The national significant number (digits after the country code), for cross-format duplicate checks. */
export function nationalNumberOf(e164: string): string | undefined {
  try {
    return parsePhoneNumberWithError(e164).nationalNumber;
  } catch {
    return undefined;
  }
}
