/* "Today" on the live board: local midnight in the configured zone (src/reports/live-board.service.ts). */
import { expect, it } from 'vitest';
import { dayStartIn, nextDayStartIn } from '../../src/reports/live-board.service.js';
it('finds local midnight in a zone, across daylight-saving changes', () => {
  expect(dayStartIn('UTC', new Date('2026-11-23T03:47:17.143Z')).toISOString()).toBe(
    '2026-11-23T00:00:00.000Z',
  );
  expect(dayStartIn('America/New_York', new Date('2026-11-23T03:47:17.143Z')).toISOString()).toBe(
    '2026-11-22T05:00:00.000Z',
  );
  expect(dayStartIn('Europe/Paris', new Date('2026-03-29T12:00:00Z')).toISOString()).toBe(
    '2026-03-28T23:00:00.000Z',
  );
  expect(nextDayStartIn('Europe/Paris', new Date('2026-03-28T23:00:00Z')).toISOString()).toBe(
    '2026-03-29T22:00:00.000Z',
  );
  expect(dayStartIn('Asia/Kolkata', new Date('2026-11-23T20:00:00Z')).toISOString()).toBe(
    '2026-11-23T18:30:00.000Z',
  );
  expect(dayStartIn('America/Sao_Paulo', new Date('2026-11-23T01:00:00Z')).toISOString()).toBe(
    '2026-11-22T03:00:00.000Z',
  );
});
