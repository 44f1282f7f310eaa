/*
 * A list kept in `compare` order with cheap insert and remove at any size: the waiting contacts of a simulated
 * backlog run to tens of thousands, and one flat array would move half of them on every change. Items live in
 * buckets of at most `maxBucket`, themselves in order, so an insert or a remove touches one bucket. Items must
 * be distinct under `compare` (the waiting order ends in the interaction id).
 */
export class SortedList<T> {
  readonly #compare: (a: T, b: T) => number;
  readonly #maxBucket: number;
  #buckets: T[][] = [];
  #size = 0;

  constructor(compare: (a: T, b: T) => number, maxBucket = 512) {
    this.#compare = compare;
    this.#maxBucket = maxBucket;
  }

  get size(): number {
    return this.#size;
  }

  insert(item: T): void {
    this.#size += 1;
    if (this.#buckets.length === 0) {
      this.#buckets.push([item]);
      return;
    }
    const b = this.#bucketFor(item);
    const bucket = this.#buckets[b]!;
    bucket.splice(this.#indexIn(bucket, item), 0, item);
    if (bucket.length > this.#maxBucket) this.#buckets.splice(b + 1, 0, bucket.splice(bucket.length >> 1));
  }

  /** Removes the item; false when it is not in the list. */
  remove(item: T): boolean {
    if (this.#buckets.length === 0) return false;
    const b = this.#bucketFor(item);
    const bucket = this.#buckets[b]!;
    const i = this.#indexIn(bucket, item);
    if (bucket[i] === undefined || this.#compare(bucket[i], item) !== 0) return false;
    bucket.splice(i, 1);
    this.#size -= 1;
    if (bucket.length === 0) this.#buckets.splice(b, 1);
    return true;
  }

  /** The first `count` items, in order. */
  first(count: number): T[] {
    const out: T[] = [];
    for (const bucket of this.#buckets) {
      for (const item of bucket) {
        if (out.length >= count) return out;
        out.push(item);
      }
    }
    return out;
  }

  /** The bucket an item belongs in: the first whose last item is not before it (else the last bucket). */
  #bucketFor(item: T): number {
    let low = 0;
    let high = this.#buckets.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      const bucket = this.#buckets[mid]!;
      if (this.#compare(bucket[bucket.length - 1]!, item) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  #indexIn(bucket: readonly T[], item: T): number {
    let low = 0;
    let high = bucket.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.#compare(bucket[mid]!, item) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
