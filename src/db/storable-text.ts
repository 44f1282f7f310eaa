/*
 * Postgres text and jsonb cannot hold NUL, and jsonb refuses an unpaired UTF-16 surrogate. Text from outside
 * (a chat message, a provider's field) may carry either; stored as is, it fails the whole insert and the
 * contact with it. `toStorable` replaces each such character with U+FFFD, the Unicode replacement character,
 * so that everything else the sender wrote is kept. Buffers (documents, attachments) are left as they are.
 */
// eslint-disable-next-line no-control-regex -- NUL is one of the characters replaced
const unstorable = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function toStorableText(text: string): string {
  return text.replace(unstorable, '\uFFFD');
}

/**
 * A copy of `value` with every string in it made storable, at any depth of arrays and plain objects (keys
 * included); anything else (a Buffer, a Date) is kept as it is.
 */
export function toStorable<T>(value: T): T {
  if (typeof value === 'string') return toStorableText(value) as T;
  if (Array.isArray(value)) return value.map(toStorable) as T;
  if (value === null || typeof value !== 'object') return value;
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [toStorableText(key), toStorable(item)]),
  ) as T;
}
