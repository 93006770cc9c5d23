import { isUUID } from 'class-validator';
import { nameUuid, orderedUuids } from './ordered-ids.js';

describe('orderedUuids', () => {
  it('makes distinct version-7 UUIDs that sort (as text, as PostgreSQL compares uuid bytes) in the order made', () => {
    for (const count of [1, 2, 300, 270_000]) {
      const ids = orderedUuids(count, Date.UTC(2030, 0, 15, 13, 30));
      expect(new Set(ids).size).toBe(count);
      expect(ids.every((id) => isUUID(id) && /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id))).toBe(true);
      expect([...ids].sort()).toEqual(ids);
    }
  });

  it('starts with the millisecond it was made at', () => {
    const at = Date.UTC(2030, 0, 15, 13, 30, 0, 123);
    const [id] = orderedUuids(1, at);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
  });
});

describe('nameUuid', () => {
  it('is a version-5 UUID, the same for the same name and another for another', () => {
    const id = nameUuid('idempotency:0b0f8c5e-6a4d-4f7e-9a3c-2d1e5f6a7b8c');
    expect(isUUID(id)).toBe(true);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(nameUuid('idempotency:0b0f8c5e-6a4d-4f7e-9a3c-2d1e5f6a7b8c')).toBe(id);
    expect(nameUuid('idempotency:0b0f8c5e-6a4d-4f7e-9a3c-2d1e5f6a7b8d')).not.toBe(id);
    expect(nameUuid('é')).not.toBe(nameUuid('e'));
  });
});
