import { createHash, randomFillSync } from 'node:crypto';

/**
 * UUIDs (version 7, RFC 9562) that sort in the order they were made within one call: the same millisecond,
 * then a 30-bit counter (its "fixed-length dedicated counter" method) in the bits that compare first, then
 * random bits. Rows written together with these ids list in that order when sorted by id, as the pages of
 * a batch's messages are (after their shared `createdAt`). Up to 2^30 ids per call.
 */
export function orderedUuids(count: number, now = Date.now()): string[] {
  if (count > 2 ** 30) throw new RangeError(`orderedUuids: at most 2^30 ids per call (asked ${count})`);
  // All the ids' bytes in one buffer, turned to hex once: 16 random bytes each, then the fixed fields written over.
  const bytes = randomFillSync(Buffer.allocUnsafe(count * 16));
  for (let i = 0, at = 0; i < count; i++, at += 16) {
    bytes.writeUIntBE(now, at, 6); // unix_ts_ms, 48 bits
    // ver (7) and rand_a: the counter's 12 high bits.
    bytes.writeUInt16BE(0x7000 | ((i >>> 18) & 0xfff), at + 6);
    // var (10), then the counter's 18 low bits; the 12 bits after them stay random.
    bytes.writeUInt32BE(((0b10 << 30) | ((i & 0x3ffff) << 12) | (bytes.readUInt16BE(at + 8) & 0xfff)) >>> 0, at + 8);
  }
  const hex = bytes.toString('hex');
  const ids = new Array<string>(count);
  for (let i = 0, h = 0; i < count; i++, h += 32) {
    ids[i] =
      `${hex.slice(h, h + 8)}-${hex.slice(h + 8, h + 12)}-${hex.slice(h + 12, h + 16)}-${hex.slice(h + 16, h + 20)}-${hex.slice(h + 20, h + 32)}`;
  }
  return ids;
}

/** This service's namespace for name-based ids (a random UUID, fixed once and for all). */
const NAME_NAMESPACE = Buffer.from('5f0c2e3a9b7d4c1e8a6f3d2b1c0e9f8a', 'hex');

/**
 * The UUID (version 5, RFC 9562: SHA-1 of a namespace and a name) of `name`: the same name, the same id, always.
 * A write keyed by a request's dedupe key gets an id a second run of that request finds again.
 */
export function nameUuid(name: string): string {
  const bytes = createHash('sha1').update(NAME_NAMESPACE).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
