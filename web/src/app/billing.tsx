// Billing in the admin portal: plan and standing, usage this month, invoices, and the way to
// Stripe (Checkout to buy a plan, the billing portal to change card or cancel). Also the plan
// choice on the signup page.
import { signal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import { api, atLeast } from './state';
import { navigate } from '../lib/router';
import { Empty, FormError, Head, useAction } from './ui';
import { USAGE_LABEL, money, planPrice, standingNotice, type BillingView, type PlanList } from '../lib/billing';

/** The tenant's billing as last loaded (for the banner every admin page shows). */
export const billing = signal<BillingView | null>(null);

export async function loadBilling(): Promise<BillingView | null> {
  try {
    billing.value = await api.get<BillingView>('/api/v1/billing');
  } catch {
    billing.value = null;
  }
  return billing.value;
}

/** Plans on offer (null until loaded; `enabled: false` when this deployment does not bill). */
export function usePlans(): PlanList | null {
  const [plans, setPlans] = useState<PlanList | null>(null);
  useEffect(() => {
    api.get<PlanList>('/api/v1/billing/plans').then(setPlans, () => setPlans({ enabled: false, default_plan: null, plans: [], meters: [] }));
  }, []);
  return plans;
}

/** Sends the browser to Stripe Checkout for a plan. */
export async function checkout(plan: string) {
  const { url } = await api.post<{ url: string }>('/api/v1/billing/checkout', { plan });
  location.assign(url);
}

/** The standing banner: trial ending, payment failed, suspended. Links to the billing page. */
export function StandingBanner(props: { onBillingPage?: boolean }) {
  const n = billing.value && standingNotice(billing.value);
  if (!n) return null;
  return (
    <div class={`banner ${n.tone}`} role={n.tone === 'bad' ? 'alert' : 'status'}>
      <strong>{n.title}.</strong> {n.detail}
      {!props.onBillingPage && atLeast('admin') && (
        <a href="/admin/billing" style="margin-left:8px" onClick={(e) => (e.preventDefault(), navigate('/admin/billing'))}>Go to billing</a>
      )}
    </div>
  );
}

export function Billing() {
  const plans = usePlans();
  const [view, setView] = useState<BillingView | null>(null);
  const owner = atLeast('owner');
  const returned = new URLSearchParams(location.search).get('checkout');
  useEffect(() => {
    void loadBilling().then(setView);
    // Coming back from Checkout, the subscription arrives by webhook a moment later.
    if (returned !== 'done') return;
    const t = setInterval(() => void loadBilling().then((v) => (setView(v), v && v.standing === 'good' && clearInterval(t))), 1500);
    return () => clearInterval(t);
  }, []);
  // Success leaves for Stripe: the buttons stay disabled meanwhile.
  const { busy, error, run: go } = useAction(true);
  if (!view || !plans) return <div class="empty" role="status">Loading…</div>;
  if (!view.enabled)
    return (
      <>
        <Head title="Billing" lead="Plans, usage and invoices." />
        <div class="card"><Empty text="Billing is off for this deployment: every channel and feature is included." /></div>
      </>
    );
  const subscribed = !['none', 'canceled', 'incomplete_expired'].includes(view.subscription_status);
  return (
    <>
      <Head
        title="Billing"
        lead="Your plan, what you used this month, and your invoices."
        action={owner && view.subscription_status !== 'none' ? <button disabled={busy} onClick={() => void go(async () => location.assign((await api.post<{ url: string }>('/api/v1/billing/portal')).url))}>Manage payment &amp; invoices</button> : undefined}
      />
      {returned === 'done' && view.standing !== 'good' && <div class="banner warn" role="status">Payment received by Stripe; waiting for the subscription to be confirmed…</div>}
      {returned === 'canceled' && <div class="banner warn" role="status">Checkout was canceled; nothing was charged.</div>}
      <StandingBanner onBillingPage />
      <FormError error={error} />
      <div class="tiles">
        <div class={`tile ${view.standing === 'good' ? 'good' : view.standing === 'suspended' || view.standing === 'grace' ? 'bad' : 'warn'}`}>
          <div class="label">Plan</div>
          <div class="value" style="font-size:22px">{view.plan?.name ?? '—'}</div>
          <div class="muted small">Subscription: {view.subscription_status.replace('_', ' ')} · {view.standing}</div>
        </div>
        <div class="tile">
          <div class="label">Agent seats</div>
          <div class="value">{view.seats}</div>
        </div>
        {plans.meters.map((m) => {
          const used = view.usage.find((u) => u.kind === m.kind)?.quantity ?? 0;
          const l = USAGE_LABEL[m.kind] ?? { label: m.kind, unit: 'units' };
          return (
            <div class="tile" key={m.kind}>
              <div class="label">{l.label} this month</div>
              <div class="value">{used.toLocaleString('en-US')}</div>
              <div class="muted small">{l.unit} · {money(Math.round((used * m.unit_centicents) / 100), 'usd')}</div>
            </div>
          );
        })}
      </div>
      {!subscribed && (
        <section class="card" aria-labelledby="plans-title">
          <h2 id="plans-title">Choose a plan</h2>
          <div class="plans">
            {plans.plans.filter((p) => p.subscribable).map((p) => (
              <div class="plan" key={p.id}>
                <strong>{p.name}</strong>
                <span class="muted">{planPrice(p)}</span>
                {p.max_agents != null && <span class="muted small">Up to {p.max_agents} agents</span>}
                {owner ? (
                  <button class="primary" disabled={busy} onClick={() => void go(() => checkout(p.id))}>Subscribe to {p.name}</button>
                ) : (
                  <span class="muted small">The account owner can subscribe.</span>
                )}
              </div>
            ))}
          </div>
        </section>
      )}
      <section class="card" aria-labelledby="invoices-title">
        <h2 id="invoices-title">Invoices</h2>
        {view.invoices_error && <p class="field-error">Stripe could not be asked just now: {view.invoices_error}</p>}
        {view.invoices.length === 0 ? (
          <Empty text="No invoices yet." />
        ) : (
          <table>
            <thead><tr><th>Number</th><th>Date</th><th>Status</th><th class="num">Total</th></tr></thead>
            <tbody>
              {view.invoices.map((i) => (
                <tr key={i.id}>
                  <td>{i.hosted_url ? <a href={i.hosted_url} target="_blank" rel="noopener">{i.number ?? i.id}</a> : (i.number ?? i.id)}</td>
                  <td>{new Date(i.created_at).toLocaleDateString('en-GB')}</td>
                  <td><span class={`badge ${i.status === 'paid' ? 'good' : i.status === 'open' ? 'warn' : ''}`}>{i.status}</span></td>
                  <td class="num">{money(i.total, i.currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section class="card" aria-labelledby="reports-title">
        <h2 id="reports-title">Usage sent to Stripe</h2>
        {view.reports.length === 0 ? (
          <Empty text="Nothing reported yet: usage is sent in batches every few minutes." />
        ) : (
          <table>
            <thead><tr><th>Batch</th><th>What</th><th class="num">Units</th><th>Sent</th></tr></thead>
            <tbody>
              {view.reports.map((r) => (
                <tr key={r.id}>
                  <td><code>{r.id}</code></td>
                  <td>{USAGE_LABEL[r.kind]?.label ?? r.kind}</td>
                  <td class="num">{r.quantity}</td>
                  <td>{r.sent_at ? new Date(r.sent_at).toLocaleString('en-GB') : <span class="badge warn">pending</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

/** Plan radio buttons for the signup form; renders nothing when the deployment does not bill. */
export function PlanChoice(props: { plans: PlanList | null; value: string; onChange: (id: string) => void; error?: string }) {
  const p = props.plans;
  if (!p || !p.enabled || p.plans.length === 0) return null;
  return (
    <fieldset class="plan-choice" aria-describedby={props.error ? 'plan-err' : undefined}>
      <legend>Plan</legend>
      {p.plans.map((plan) => (
        <label key={plan.id} class={props.value === plan.id ? 'chosen' : ''}>
          <input type="radio" name="plan" value={plan.id} checked={props.value === plan.id} onChange={() => props.onChange(plan.id)} />
          <span><strong>{plan.name}</strong> <span class="muted small">{planPrice(plan)}</span></span>
        </label>
      ))}
      {props.error && <span class="field-error" id="plan-err">{props.error}</span>}
    </fieldset>
  );
}
