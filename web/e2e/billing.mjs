// End-to-end billing in the browser: a business picks the Team plan at signup, pays on a Checkout
// page, sees its subscription confirmed by Stripe's signed webhooks, then a renewal payment fails
// (red banner on every admin page, grace), the subscription goes unpaid (suspended), and the owner
// pays in the billing portal, which restores service. Stripe here is a local stand-in speaking
// Stripe's API shapes (Checkout Sessions and the billing portal are not in localstripe) that
// signs its webhooks with the Stripe-Signature scheme, as Stripe does.
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import { chromiumArgs, chromiumPath, freePort, run, startSwitchboard } from './harness.mjs';

const r = run('artifacts-billing');
const { step, check, axe, shot } = r;
const KEY = 'sk_test_e2e';
const WHSEC = 'whsec_e2e_billing';
const DECLINED = '4000000000000002';

// ---- the Stripe stand-in -------------------------------------------------------------------
const stripePort = await freePort();
const stripe = `http://127.0.0.1:${stripePort}`;
let webhookUrl = '';
let seq = 0;
const nextId = (prefix) => `${prefix}_e2e${++seq}`;
const customers = new Map();
const sessions = new Map();
const subscriptions = new Map();
const invoices = [];
const requests = [];
let clock = Math.floor(Date.now() / 1000);
const created = () => ++clock;

/** Stripe's form encoding (`a[b][0][c]=x`) into nested objects and arrays. */
function parseForm(body) {
  const out = {};
  for (const [k, v] of new URLSearchParams(body)) {
    const path = k.replace(/\]/g, '').split('[');
    let o = out;
    for (let i = 0; i < path.length - 1; i++) o = o[path[i]] ??= /^\d+$/.test(path[i + 1]) ? [] : {};
    o[path[path.length - 1]] = v;
  }
  return out;
}

async function sendEvent(type, object) {
  const body = JSON.stringify({ id: nextId('evt'), object: 'event', type, created: created(), livemode: false, data: { object } });
  const t = Math.floor(Date.now() / 1000);
  const sig = createHmac('sha256', WHSEC).update(`${t}.${body}`).digest('hex');
  const res = await fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${sig}` }, body });
  if (!res.ok) r.fail(`webhook ${type} answered ${res.status}: ${await res.text()}`);
}

const subObject = (s) => ({ id: s.id, object: 'subscription', customer: s.customer, status: s.status, items: { object: 'list', data: s.items } });

function invoice(sub, status) {
  const i = { id: nextId('in'), object: 'invoice', number: `SB-${1000 + invoices.length}`, customer: sub.customer, subscription: sub.id, status, currency: 'usd', created: created(),
    total: sub.items.reduce((t, it) => t + (it.price.id === 'price_team_seat' ? 2900 * it.quantity : 0), 0), hosted_invoice_url: `${stripe}/invoice/${invoices.length}` };
  invoices.unshift(i);
  return i;
}

async function subscribe(session) {
  const sub = { id: nextId('sub'), customer: session.customer, status: 'active',
    items: session.line_items.map((l) => ({ id: nextId('si'), object: 'subscription_item', price: { id: l.price }, quantity: Number(l.quantity ?? 0) })) };
  subscriptions.set(sub.id, sub);
  await sendEvent('checkout.session.completed', { id: session.id, object: 'checkout.session', customer: session.customer, subscription: sub.id, mode: 'subscription' });
  await sendEvent('customer.subscription.created', subObject(sub));
  await sendEvent('invoice.paid', invoice(sub, 'paid'));
  return sub;
}

/** A renewal whose card is declined: Stripe marks the invoice failed and the subscription past due. */
async function renewalDeclined(sub) {
  sub.status = 'past_due';
  await sendEvent('invoice.payment_failed', invoice(sub, 'open'));
  await sendEvent('customer.subscription.updated', subObject(sub));
}

async function retriesExhausted(sub) {
  sub.status = 'unpaid';
  await sendEvent('customer.subscription.updated', subObject(sub));
}

async function paidInPortal(sub) {
  const open = invoices.find((i) => i.subscription === sub.id && i.status === 'open');
  if (open) open.status = 'paid';
  sub.status = 'active';
  await sendEvent('invoice.paid', open ?? invoice(sub, 'paid'));
  await sendEvent('customer.subscription.updated', subObject(sub));
}

const page = (title, body) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:system-ui,sans-serif;background:#f6f9fc;color:#1a1f36;margin:0} main{max-width:420px;margin:60px auto;background:#fff;padding:28px;border-radius:12px;box-shadow:0 4px 18px #0002}
label{display:block;font-weight:600;margin:12px 0 4px} input{width:100%;padding:10px;font-size:16px;box-sizing:border-box} button{margin-top:16px;width:100%;padding:12px;background:#4b38d6;color:#fff;border:0;border-radius:6px;font-size:16px} .err{color:#b42318}</style></head>
<body><main>${body}</main></body></html>`;

function checkoutPage(s, error = '') {
  const seats = s.line_items.find((l) => l.quantity)?.quantity ?? 1;
  return page('Checkout', `<h1>Subscribe to Team</h1><p>$29.00 per agent × ${seats}, billed monthly, plus metered usage.</p>
${error ? `<p class="err" role="alert">${error}</p>` : ''}
<form method="post" action="/pay/${s.id}"><label for="card">Card number</label><input id="card" name="card" inputmode="numeric" autocomplete="cc-number" required>
<button type="submit">Subscribe</button></form><p><a href="${s.cancel_url}">Back to Switchboard</a></p>`);
}

let portalSub = null;
const stripeServer = createServer(async (req, res) => {
  let body = '';
  for await (const c of req) body += c;
  const url = new URL(req.url, stripe);
  const json = (code, v) => (res.writeHead(code, { 'content-type': 'application/json' }), res.end(JSON.stringify(v)));
  const html = (code, v) => (res.writeHead(code, { 'content-type': 'text/html; charset=utf-8' }), res.end(v));
  if (url.pathname.startsWith('/v1/')) {
    requests.push({ method: req.method, path: url.pathname, form: parseForm(body), query: Object.fromEntries(url.searchParams) });
    if (req.headers.authorization !== `Bearer ${KEY}`) return json(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
  }
  if (req.method === 'POST' && url.pathname === '/v1/customers') {
    const f = parseForm(body);
    const c = { id: nextId('cus'), object: 'customer', name: f.name, email: f.email, metadata: f.metadata ?? {} };
    customers.set(c.id, c);
    return json(200, c);
  }
  if (req.method === 'POST' && url.pathname === '/v1/checkout/sessions') {
    const f = parseForm(body);
    if (f.mode !== 'subscription' || !customers.has(f.customer) || !f.line_items?.length || !f.success_url) return json(400, { error: { type: 'invalid_request_error', message: 'bad checkout session' } });
    const s = { id: nextId('cs_test'), object: 'checkout.session', ...f, url: `${stripe}/pay/` };
    s.url += s.id;
    sessions.set(s.id, s);
    return json(200, s);
  }
  if (req.method === 'POST' && url.pathname === '/v1/billing_portal/sessions') {
    const f = parseForm(body);
    if (!customers.has(f.customer) || !f.return_url) return json(400, { error: { type: 'invalid_request_error', message: 'bad portal session' } });
    const id = nextId('bps');
    portalSub = [...subscriptions.values()].find((s) => s.customer === f.customer);
    return json(200, { id, object: 'billing_portal.session', url: `${stripe}/portal/${id}?return=${encodeURIComponent(f.return_url)}` });
  }
  if (req.method === 'GET' && url.pathname === '/v1/invoices') {
    return json(200, { object: 'list', data: invoices.filter((i) => i.customer === url.searchParams.get('customer')).slice(0, Number(url.searchParams.get('limit') ?? 10)), has_more: false });
  }
  const item = url.pathname.match(/^\/v1\/subscription_items\/(\w+)$/);
  if (req.method === 'POST' && item) {
    const it = [...subscriptions.values()].flatMap((s) => s.items).find((i) => i.id === item[1]);
    if (!it) return json(404, { error: { type: 'invalid_request_error', message: 'No such subscription item' } });
    it.quantity = Number(parseForm(body).quantity);
    return json(200, it);
  }
  if (req.method === 'POST' && url.pathname === '/v1/billing/meter_events') return json(200, { object: 'billing.meter_event', ...parseForm(body) });
  const pay = url.pathname.match(/^\/pay\/(\w+)$/);
  if (pay && sessions.has(pay[1])) {
    const s = sessions.get(pay[1]);
    if (req.method === 'GET') return html(200, checkoutPage(s));
    const card = (parseForm(body).card ?? '').replace(/\s/g, '');
    // Checkout refuses a declined card on the page: no subscription, no event.
    if (card === DECLINED) return html(402, checkoutPage(s, 'Your card was declined. Try another card.'));
    await subscribe(s);
    res.writeHead(303, { location: s.success_url });
    return res.end();
  }
  if (url.pathname.startsWith('/portal/')) {
    const back = url.searchParams.get('return');
    if (req.method === 'POST') {
      await paidInPortal(portalSub);
      res.writeHead(303, { location: back });
      return res.end();
    }
    return html(200, page('Billing portal', `<h1>Your subscription</h1><p>Status: ${portalSub?.status}</p>
<form method="post" action="${url.pathname}?return=${encodeURIComponent(back)}"><label for="card">New card number</label><input id="card" name="card" required>
<button type="submit">Update card and pay</button></form><p><a href="${back}">Return to Switchboard</a></p>`));
  }
  json(404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${req.method}: ${url.pathname})` } });
}).listen(stripePort, '127.0.0.1');

// ---- the run ---------------------------------------------------------------------------------
const server = await startSwitchboard({
  SWITCHBOARD_STRIPE_SECRET_KEY: KEY,
  SWITCHBOARD_STRIPE_API_BASE: stripe,
  SWITCHBOARD_STRIPE_WEBHOOK_SECRET: WHSEC,
  SWITCHBOARD_BILLING_GRACE_SECS: '604800',
  SWITCHBOARD_BILLING_REPORT_INTERVAL_SECS: '1',
});
const base = server.base;
webhookUrl = `${base}/api/v1/webhooks/stripe`;
const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
try {
  const owner = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  owner.on('pageerror', (e) => r.fail('page error:', e.message));

  step('signup offers the plans; the owner picks Team');
  await owner.goto(`${base}/signup`);
  await owner.getByRole('radio', { name: /Team/ }).waitFor();
  check(await owner.getByRole('radio', { name: /Free trial|Trial/i }).isChecked(), 'the free trial is chosen unless the owner picks a plan');
  await owner.getByLabel('Business name').fill('Kettle Co');
  await owner.getByLabel('Your name').fill('Kim Owner');
  await owner.getByLabel('Work e-mail').fill('kim@kettle.example');
  await owner.getByLabel('Password').fill('a very good password 42');
  await owner.getByRole('radio', { name: /Team/ }).check();
  await shot(owner, '01-signup-plans');
  await axe(owner, 'signup with plans');
  await owner.getByRole('button', { name: 'Create account' }).click();

  step('Checkout: a declined card is refused on the page, a good one subscribes');
  await owner.waitForURL(`${stripe}/pay/**`);
  const session = [...sessions.values()][0];
  check(session?.line_items?.[0]?.price === 'price_team_seat' && session.line_items[0].quantity === '1', 'the Checkout Session asks for one Team seat');
  check(session?.line_items?.slice(1).every((l) => l.quantity === undefined) && session.line_items.length === 4, 'metered prices are added without a quantity');
  check(customers.get(session.customer)?.metadata?.tenant_id?.length > 0, 'the Stripe customer carries our tenant id');
  await owner.getByLabel('Card number').fill(DECLINED);
  await owner.getByRole('button', { name: 'Subscribe' }).click();
  await owner.getByText('Your card was declined').waitFor();
  check(subscriptions.size === 0, 'a declined card makes no subscription');
  await owner.getByLabel('Card number').fill('4242 4242 4242 4242');
  await owner.getByRole('button', { name: 'Subscribe' }).click();
  await owner.waitForURL(`${base}/admin/billing?checkout=done`);
  await owner.locator('.tile').filter({ hasText: 'Plan' }).getByText('Team').waitFor();
  await owner.getByText('active · good').waitFor();
  check(true, 'back from Checkout, the billing page shows Team, active and in good standing');
  await owner.getByRole('cell', { name: 'SB-1000' }).waitFor();
  check(await owner.getByRole('cell', { name: '$29.00' }).isVisible(), 'the paid invoice is listed with its total');
  check(!(await owner.locator('.banner.bad').count()), 'no warning banner while in good standing');
  await shot(owner, '02-billing-good');
  await axe(owner, 'billing page');

  step('a renewal is declined: grace, with a banner on every admin page');
  const sub = [...subscriptions.values()][0];
  await renewalDeclined(sub);
  await owner.goto(`${base}/admin/queues`);
  await owner.getByRole('alert').getByText('Your last payment failed').waitFor();
  check(true, 'the queues page warns that the payment failed');
  await shot(owner, '03-grace-banner');
  await axe(owner, 'admin with a grace banner');

  step('retries exhausted: suspended');
  await retriesExhausted(sub);
  await owner.getByRole('link', { name: 'Go to billing' }).click();
  await owner.getByRole('alert').getByText('Service is suspended').waitFor();
  check(await owner.getByText('Payment overdue.', { exact: false }).isVisible(), 'the reason is given');
  await shot(owner, '04-suspended');
  await owner.getByRole('link', { name: 'Agent console' }).click();
  await owner.getByText('Live', { exact: true }).waitFor();
  await owner.getByLabel('Presence').selectOption('available');
  await owner.getByRole('status').filter({ hasText: 'service is suspended' }).waitFor();
  check(true, 'going available is refused while suspended, with the reason');
  await shot(owner, '05-console-suspended');
  await owner.getByRole('navigation').getByRole('link', { name: 'Billing' }).click();

  step('the owner pays in the billing portal and service is back');
  await owner.getByRole('button', { name: 'Manage payment & invoices' }).click();
  await owner.waitForURL(`${stripe}/portal/**`);
  check(requests.some((q) => q.path === '/v1/billing_portal/sessions' && q.form.return_url === `${base}/admin/billing`), 'the portal returns to the billing page');
  await owner.getByLabel('New card number').fill('4242424242424242');
  await owner.getByRole('button', { name: 'Update card and pay' }).click();
  await owner.waitForURL(`${base}/admin/billing`);
  await owner.getByText('active · good').waitFor();
  check(!(await owner.locator('.banner.bad').count()), 'the suspension banner is gone');
  const paid = await owner.locator('tr', { hasText: 'SB-1001' }).getByText('paid').count();
  check(paid === 1, 'the failed invoice now shows paid');
  await shot(owner, '06-restored');

} catch (e) {
  await r.crashed(browser, e);
} finally {
  await browser.close();
  stripeServer.close();
  server.stop();
}
r.finish();
