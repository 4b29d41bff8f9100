// What the billing API says, in words a business owner reads at a glance.

export interface PlanView {
  id: string;
  name: string;
  seat_cents: number;
  trial_days: number;
  max_agents: number | null;
  subscribable: boolean;
}
export interface PlanList {
  enabled: boolean;
  default_plan: string | null;
  plans: PlanView[];
  meters: { kind: string; unit_centicents: number }[];
}
export interface BillingView {
  enabled: boolean;
  plan: PlanView | null;
  subscription_status: string;
  standing: 'off' | 'good' | 'trial' | 'grace' | 'suspended';
  standing_until: number | null;
  suspended_reason: string | null;
  seats: number;
  usage: { kind: string; quantity: number }[];
  usage_since: number;
  invoices: { id: string; number: string | null; status: string; total: number; currency: string; created_at: number; hosted_url: string | null }[];
  invoices_error: string | null;
  reports: { id: string; kind: string; quantity: number; sealed_at: number; sent_at: number | null }[];
}

export const USAGE_LABEL: Record<string, { label: string; unit: string }> = {
  voice_minutes: { label: 'Voice', unit: 'minutes' },
  sms_segments: { label: 'SMS', unit: 'segments' },
  recording_storage: { label: 'Recordings', unit: 'MB-days' },
};

/** An amount in a currency's smallest unit, as people write it (`$12.50`, `€0.00`). */
export function money(minor: number, currency: string): string {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() }).format(minor / 100);
  } catch {
    return `${(minor / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}

/** A plan's price line: "Free for 14 days", "$29.00 per agent / month". */
export function planPrice(p: PlanView): string {
  if (!p.subscribable) return p.trial_days ? `Free for ${p.trial_days} days` : 'Free';
  const seat = `${money(p.seat_cents, 'usd')} per agent / month`;
  return p.trial_days ? `${seat}, first ${p.trial_days} days free` : seat;
}

const DAY = 86_400_000;
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
function inDays(until: number, now: number): string {
  const days = Math.ceil((until - now) / DAY);
  if (days <= 0) return 'today';
  return days === 1 ? 'in 1 day' : `in ${days} days`;
}

export interface StandingNotice {
  tone: 'good' | 'warn' | 'bad';
  title: string;
  detail: string;
}

/** The banner for the tenant's standing; null when there is nothing to say. */
export function standingNotice(b: Pick<BillingView, 'standing' | 'standing_until' | 'suspended_reason' | 'plan'>, now = Date.now()): StandingNotice | null {
  switch (b.standing) {
    case 'trial':
      return {
        tone: 'warn',
        title: b.standing_until ? `Free trial ends ${inDays(b.standing_until, now)}` : 'Free trial',
        detail: 'Choose a plan before it ends so your customers keep reaching you.',
      };
    case 'grace':
      return {
        tone: 'bad',
        title: 'Your last payment failed',
        detail: `Service continues until ${b.standing_until ? new Date(b.standing_until).toLocaleDateString('en-GB', { day: 'numeric', month: 'long' }) : 'the grace period ends'}; update your payment method to avoid suspension.`,
      };
    case 'suspended':
      return {
        tone: 'bad',
        title: 'Service is suspended',
        detail: `${cap(b.suspended_reason ?? 'the subscription is not paid')}. Customers are told you are unavailable and can leave a message; nothing is lost. Paying restores service at once.`,
      };
    default:
      return null;
  }
}
