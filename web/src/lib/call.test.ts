import { describe, expect, it } from 'vitest';
import { callView, dialable } from './call';

describe('the call bar', () => {
  it('offers hold and hang-up on a live call, resume when held', () => {
    expect(callView('bridged')).toMatchObject({ label: 'On the call', hold: true, resume: false, hangUp: true });
    expect(callView('resumed').hold).toBe(true);
    expect(callView('held')).toMatchObject({ hold: false, resume: true, hangUp: true, tone: 'warn' });
    expect(callView('ringing')).toMatchObject({ hold: false, hangUp: true });
  });
  it('offers nothing once the call is over, and says why', () => {
    for (const s of ['agent_hung_up', 'caller_hung_up', 'transferred_out', 'agent_unreachable']) {
      expect(callView(s)).toMatchObject({ hold: false, resume: false, hangUp: false });
    }
    expect(callView('caller_hung_up').label).toBe('The caller hung up');
    expect(callView('agent_unreachable', 'busy').label).toBe('Your phone could not be reached: busy');
    expect(callView('transferred_out', 'sent to +14155550100').label).toBe('Caller sent on (sent to +14155550100)');
  });
  it('assumes a live call when nothing was heard yet (a reload mid-call)', () => {
    expect(callView(undefined)).toMatchObject({ label: 'Call connected', hold: true, hangUp: true });
  });
  it('takes numbers the way people type them', () => {
    expect(dialable(' +1 (415) 555-0100 ')).toBe('+14155550100');
    expect(dialable('0800 123 456')).toBe('0800123456');
    expect(dialable('call me')).toBeNull();
    expect(dialable('12')).toBeNull();
  });
});
