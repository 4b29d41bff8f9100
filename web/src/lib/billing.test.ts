import { describe, expect, it } from 'vitest';
import { money, planPrice, standingNotice } from './billing';

const DAY = 86_400_000;
const plan = { id: 'team', name: 'Team', seat_cents: 2900, trial_days: 0, max_agents: null, subscribable: true };

describe('billing words', () => {
  it('formats money in the smallest unit', () => {
    expect(money(2900, 'usd')).toBe('$29.00');
    expect(money(5, 'eur')).toBe('€0.05');
    expect(money(100, 'zzz')).toMatch(/1(\.00)?/);
  });
  it('prices plans', () => {
    expect(planPrice(plan)).toBe('$29.00 per agent / month');
    expect(planPrice({ ...plan, trial_days: 7 })).toBe('$29.00 per agent / month, first 7 days free');
    expect(planPrice({ ...plan, id: 'trial', subscribable: false, seat_cents: 0, trial_days: 14 })).toBe('Free for 14 days');
  });
  it('says nothing when all is well, and what to do otherwise', () => {
    const now = 1_000 * DAY;
    expect(standingNotice({ standing: 'good', standing_until: null, suspended_reason: null, plan }, now)).toBeNull();
    expect(standingNotice({ standing: 'off', standing_until: null, suspended_reason: null, plan }, now)).toBeNull();
    const trial = standingNotice({ standing: 'trial', standing_until: now + 3 * DAY - 1, suspended_reason: null, plan }, now)!;
    expect(trial.tone).toBe('warn');
    expect(trial.title).toBe('Free trial ends in 3 days');
    const grace = standingNotice({ standing: 'grace', standing_until: now + DAY, suspended_reason: null, plan }, now)!;
    expect(grace.tone).toBe('bad');
    expect(grace.title).toBe('Your last payment failed');
    const off = standingNotice({ standing: 'suspended', standing_until: null, suspended_reason: 'payment overdue', plan }, now)!;
    expect(off.title).toBe('Service is suspended');
    expect(off.detail.startsWith('Payment overdue.')).toBe(true);
    expect(off.detail).toContain('nothing is lost');
  });
});
