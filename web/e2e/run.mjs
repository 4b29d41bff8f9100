// End-to-end: a real switchboard binary, a demo shop on another origin, and headless Chromium.
// A business signs up, creates a queue and a chat widget, invites an agent who logs in; a
// customer on the shop chats through the pasted snippet; the agent gets the offer, accepts and
// replies; the customer sees the reply; the wallboard shows the queue change. Every screen is
// saved to e2e/artifacts and checked with axe-core (no serious or critical violations).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { chromiumArgs, chromiumPath, freePort, run, startSwitchboard, web } from './harness.mjs';

const r = run('artifacts');
const { step, check, axe, shot } = r;
const shopPort = await freePort();
const shopOrigin = `http://127.0.0.1:${shopPort}`;
const server = await startSwitchboard();
const base = server.base;
let snippet = '';
const shop = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Demo Shop</title>
<style>body{font-family:Georgia,serif;margin:0;background:#fffaf3;color:#3b2f2f} header{background:#7c2d12;color:#fff;padding:18px 28px;font-size:22px} main{padding:28px;max-width:720px} button{font-size:20px}</style></head>
<body><header>Demo Shop</header><main><h1>Hand-made teapots</h1><p>Questions about your order? Chat with us — the bubble in the corner.</p></main>
${snippet}</body></html>`);
}).listen(shopPort, '127.0.0.1');

const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
try {
  const viewport = { width: 1440, height: 900 };
  const owner = await (await browser.newContext({ viewport })).newPage();
  owner.on('pageerror', (e) => { r.fail('page error (owner):', e.message); });

  step('a business signs up');
  await owner.goto(`${base}/signup`);
  await shot(owner, '01-signup');
  await axe(owner, 'signup');
  await owner.getByLabel('Business name').fill('Teapot Trading');
  await owner.getByLabel('Your name').fill('Olivia Owner');
  await owner.getByLabel('Work e-mail').fill('olivia@teapots.example');
  await owner.getByLabel('Password').fill('short');
  await owner.getByRole('button', { name: 'Create account' }).click();
  await owner.getByText('Please correct the highlighted fields.').waitFor();
  check(await owner.locator('#' + (await owner.getByLabel('Password').getAttribute('id')) + '-err').isVisible(), 'the server\'s field error shows next to the password');
  await shot(owner, '02-signup-field-error');
  await owner.getByLabel('Password').fill('a very good password 42');
  await owner.getByRole('button', { name: 'Create account' }).click();
  await owner.waitForURL('**/admin/queues');

  step('creates a queue');
  await owner.getByRole('button', { name: 'New queue' }).click();
  const dialog = owner.getByRole('dialog', { name: 'New queue' });
  await dialog.getByLabel('Name').fill('Support');
  await shot(owner, '03-new-queue');
  await dialog.getByRole('button', { name: 'Create queue' }).click();
  await owner.getByRole('cell', { name: 'Support' }).waitFor();
  await shot(owner, '04-queues');
  await axe(owner, 'admin queues');

  step('adds a chat widget for the shop');
  await owner.getByRole('link', { name: 'Numbers & channels' }).click();
  await owner.getByLabel('Kind').selectOption('chat_widget');
  await owner.getByLabel('Name').fill('Shop chat');
  await owner.getByLabel('Websites allowed to embed it').fill(shopOrigin);
  await owner.getByLabel('Queue').selectOption({ label: 'Support' });
  await owner.getByRole('button', { name: 'Add', exact: true }).click();
  await owner.getByRole('cell', { name: 'Shop chat' }).waitFor();
  // Edit it: a second allowed site.
  await owner.getByRole('row', { name: /Shop chat/ }).getByRole('button', { name: 'Edit' }).click();
  await owner.getByLabel('Websites allowed to embed it').fill(`${shopOrigin}\nhttps://www.teapots.example`);
  await owner.getByRole('button', { name: 'Save' }).click();
  await owner.getByText('https://www.teapots.example', { exact: false }).first().waitFor();
  check(await owner.getByRole('heading', { name: 'Add a channel' }).isVisible(), 'the edited widget keeps both sites and the form returns to adding');
  await shot(owner, '05-channels');
  await owner.getByRole('link', { name: 'Chat widget' }).click();
  snippet = await owner.getByLabel('Embed snippet').innerText();
  check(snippet.includes('data-widget-key="wk_') || snippet.includes('data-widget-key='), 'the widget page shows the snippet to paste');
  await owner.frameLocator('iframe[title="Chat widget preview"]').locator('#switchboard-chat').waitFor({ state: 'attached' });
  await owner.waitForTimeout(300);
  await shot(owner, '06-widget-snippet-and-preview');

  step('invites an agent');
  await owner.getByRole('link', { name: 'Agents & users' }).click();
  await owner.getByLabel('E-mail').fill('sam@teapots.example');
  await owner.getByLabel('Name', { exact: true }).fill('Sam Agent');
  await owner.getByRole('button', { name: 'Send invitation' }).click();
  const inviteLink = await owner.getByLabel('Invitation link').inputValue();
  await shot(owner, '07-agents-invited');

  step('business hours: a bad time zone is named by the server, then saved and edited');
  await owner.getByRole('link', { name: 'Business hours' }).click();
  await owner.getByLabel('Name', { exact: true }).fill('Shop hours');
  await owner.getByLabel('Time zone').fill('Mars/Olympus_Mons');
  await owner.getByRole('button', { name: 'Save schedule' }).click();
  await owner.getByText('Please correct the highlighted fields.').waitFor();
  check((await owner.getByLabel('Time zone').getAttribute('aria-invalid')) === 'true', 'the time zone field is marked invalid');
  await shot(owner, '07b-hours-field-error');
  await owner.getByLabel('Time zone').fill('Europe/Oslo');
  await owner.getByRole('button', { name: 'Save schedule' }).click();
  await owner.getByRole('cell', { name: 'Shop hours' }).waitFor();
  await owner.getByRole('row', { name: /Shop hours/ }).getByRole('button', { name: 'Edit' }).click();
  await owner.getByLabel('Closed dates').fill('2026-12-24, 2026-12-25');
  await owner.getByRole('button', { name: 'Save', exact: true }).click();
  await owner.getByText('closed 2026-12-24, 2026-12-25').waitFor();
  check(true, 'the schedule was edited with its holidays');
  await axe(owner, 'business hours');

  step('the agent logs in and sets away');
  const agent = await (await browser.newContext({ viewport })).newPage();
  agent.on('pageerror', (e) => { r.fail('page error (agent):', e.message); });
  await agent.goto(inviteLink);
  await agent.getByLabel('Password').fill('another good password 7');
  await agent.getByRole('button', { name: 'Set password' }).click();
  await agent.waitForURL('**/console');
  await agent.getByText('Live', { exact: true }).waitFor();
  await agent.getByLabel('Presence').selectOption('away');
  await agent.locator('.badge.away').waitFor();
  await shot(agent, '08-console-away');

  step('the supervisor opens the wallboard');
  await owner.getByRole('link', { name: 'Wallboard' }).click();
  const waiting = owner.locator('tr[data-queue="Support"] [data-cell="waiting"]');
  await waiting.waitFor();
  check((await waiting.innerText()) === '0', 'nobody waits yet');

  step('a customer on the shop (another origin) opens the widget and chats');
  const customerCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const customer = await customerCtx.newPage();
  customer.on('pageerror', (e) => { r.fail('page error (customer):', e.message); });
  await customer.goto(`${shopOrigin}/`);
  await customer.getByRole('button', { name: /Open chat/ }).click();
  await shot(customer, '09-widget-prechat-phone');
  await axe(customer, 'chat widget (pre-chat form)', { include: [['#switchboard-chat']] });
  await customer.getByLabel('Your name').fill('Chris Customer');
  await customer.getByLabel('E-mail (for a copy of the chat)').fill('chris@example.com');
  await customer.getByLabel('How can we help?').fill('Is the blue teapot back in stock?');
  await customer.getByRole('button', { name: 'Start chat' }).click();
  await customer.getByText('Is the blue teapot back in stock?').waitFor();
  await customer.getByText('Waiting for the next available person…').waitFor();
  await shot(customer, '10-widget-waiting');

  step('the wallboard shows the queue change');
  await owner.waitForFunction(() => document.querySelector('tr[data-queue="Support"] [data-cell="waiting"]')?.textContent === '1', null, { timeout: 10_000 });
  check(true, 'the wallboard shows 1 waiting in Support, live');
  await shot(owner, '11-wallboard-waiting');
  await axe(owner, 'wallboard');

  step('the agent goes available, gets the offer, accepts and replies');
  await agent.getByLabel('Presence').selectOption('available');
  const offer = agent.getByRole('alert', { name: 'Incoming Chat' });
  await offer.waitFor();
  check(await offer.getByText('Chris Customer').isVisible(), 'the offer names the customer');
  await shot(agent, '12-console-offer');
  await offer.getByRole('button', { name: 'Accept' }).click();
  await agent.getByRole('log', { name: 'Messages' }).getByText('Is the blue teapot back in stock?').waitFor();
  await agent.getByLabel('Reply').fill('Yes! It came back this morning. Shall I reserve one for you?');
  await agent.keyboard.press('Enter');
  await agent.getByRole('log', { name: 'Messages' }).getByText('Shall I reserve one').waitFor();
  await shot(agent, '13-console-conversation');
  await axe(agent, 'agent console');

  step('the customer sees the reply');
  await customer.getByText('You are chatting with our team').waitFor();
  await customer.getByText('Yes! It came back this morning. Shall I reserve one for you?').waitFor();
  check(true, 'the reply reached the widget');
  step('the customer reloads the page: the conversation resumes');
  await customer.reload();
  await customer.getByRole('button', { name: /Open chat/ }).click();
  await customer.getByText('Yes! It came back this morning. Shall I reserve one for you?').waitFor();
  check((await customer.getByText('Is the blue teapot back in stock?').count()) === 1, 'each message shows once after the reload');
  await customer.getByLabel('Message', { exact: true }).fill('Yes please!');
  await customer.getByRole('button', { name: 'Send' }).click();
  await agent.getByRole('log', { name: 'Messages' }).getByText('Yes please!').waitFor();
  await shot(customer, '14-widget-conversation');
  await axe(customer, 'chat widget (conversation)', { include: [['#switchboard-chat']] });
  await owner.waitForFunction(() => document.querySelector('tr[data-queue="Support"] [data-cell="waiting"]')?.textContent === '0', null, { timeout: 10_000 });
  check(true, 'the wallboard shows the queue emptied');

  step('the supervisor follows the chat and whispers');
  await owner.getByRole('button', { name: 'Follow' }).click();
  await owner.getByRole('log', { name: 'Followed messages' }).getByText('Yes please!').waitFor();
  await owner.getByLabel('Message', { exact: true }).fill('Offer free gift wrap');
  await owner.getByRole('button', { name: 'Whisper' }).click();
  await agent.getByText('Offer free gift wrap').waitFor();
  check(true, 'the whisper reached the agent');
  await shot(owner, '15-wallboard-following');
  await customer.waitForTimeout(500);
  check((await customer.getByText('Offer free gift wrap').count()) === 0, 'the customer never sees the whisper');

  step('the agent wraps up with a code');
  await agent.getByRole('button', { name: 'Wrap up' }).click();
  await agent.getByRole('dialog').getByLabel('Notes').fill('Reserved a blue teapot');
  await shot(agent, '16-console-wrap-up');
  await agent.getByRole('dialog').getByRole('button', { name: 'Finish' }).click();
  await customer.getByText('The chat has ended. Thank you!').waitFor({ timeout: 15_000 });
  check(true, 'the widget shows the chat ended');

  step('nobody online: a new visitor leaves a message instead');
  await agent.getByLabel('Presence').selectOption('offline');
  await agent.locator('.badge.offline').waitFor();
  await agent.close();
  const late = await (await browser.newContext({ viewport })).newPage();
  await late.goto(`${shopOrigin}/`);
  await late.getByRole('button', { name: /Open chat/ }).click();
  await late.getByLabel('Your name').fill('Lee Late');
  await late.getByLabel('E-mail (for a copy of the chat)').fill('lee@example.com');
  await late.getByLabel('How can we help?').fill('Do you ship to Norway?');
  await late.getByRole('button', { name: 'Start chat' }).click();
  await late.getByText('Nobody is available right now', { exact: false }).waitFor();
  await late.getByRole('button', { name: 'Send message' }).click();
  await late.getByText('We got your message and will reply by e-mail.').waitFor();
  check(true, 'the offline message was accepted');
  await shot(late, '18-widget-offline-message');

  step('history search finds it');
  await owner.getByRole('link', { name: 'Contact history' }).click();
  await owner.getByLabel('Customer').fill('chris@');
  await owner.getByRole('button', { name: 'Search' }).click();
  await owner.getByRole('button', { name: 'Chris Customer' }).click();
  await owner.getByRole('log').getByText('Yes please!').waitFor();
  await shot(owner, '17-history');
  await owner.getByLabel('Customer').fill('lee@');
  await owner.getByLabel('Channel').selectOption('email');
  await owner.getByRole('button', { name: 'Search' }).click();
  await owner.getByRole('button', { name: 'Lee Late' }).click();
  await owner.getByRole('log').getByText('Do you ship to Norway?').waitFor();
  check(true, 'the left message is an e-mail contact in the history');
  await axe(owner, 'contact history');
} catch (e) {
  await r.crashed(browser, e);
} finally {
  await browser.close();
  shop.close();
  server.stop();
}
const gz = (await import('node:zlib')).gzipSync(readFileSync(join(web, 'dist/widget.js'))).length;
console.log(`e2e: widget.js is ${(gz / 1024).toFixed(1)} KiB gzipped (goal: under 40 KiB)`);
check(gz < 40 * 1024, 'the widget is under 40 KiB gzipped');
r.finish();
