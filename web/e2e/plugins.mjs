// End-to-end: tenant plugins in the admin portal, against a real switchboard and real WebAssembly
// components built from tenant-plugins/ (wasm32-wasip2). An owner uploads a file that is not a
// plugin (refused, nothing stored), uploads a plugin and activates it, sees contacts changed and
// every call listed live; uploads a business-hours version, sets its secret and grants it,
// replays it against the recent contacts, activates it, rolls back; a hostile plugin is refused
// while another handles the same hook, then runs after a grant, crashes and times out, and each
// failure shows with its reason while the contacts are still routed. Screens go to
// e2e/artifacts-plugins and are checked with axe-core.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { chromiumArgs, chromiumPath, run, signUp, startSwitchboard, web } from './harness.mjs';

const r = run('artifacts-plugins');
const { step, check, axe, shot } = r;

step('building the plugin components (wasm32-wasip2)');
const guestWorkspace = resolve(web, '../tenant-plugins');
const root = resolve(web, '..');
// The same directory the Rust tests build guests in, so a warm run compiles nothing.
const guestTarget = process.env.CARGO_TARGET_DIR ? join(resolve(root, process.env.CARGO_TARGET_DIR), 'guests') : join(guestWorkspace, 'target');
const packages = ['fixture-trivial', 'example-business-hours', 'fixture-hostile'];
try {
  const env = { ...process.env, CARGO_TARGET_DIR: guestTarget };
  delete env.RUSTFLAGS;
  delete env.CARGO_ENCODED_RUSTFLAGS;
  execFileSync('cargo', ['build', '--release', '--target', 'wasm32-wasip2', '--quiet', ...packages.flatMap((p) => ['-p', p])], { cwd: guestWorkspace, env, stdio: 'inherit' });
} catch (e) {
  r.fail('building the plugin components (is the wasm32-wasip2 target installed?)', e.message);
  r.finish();
}
const wasm = (p) => ({ name: `${p.replace(/-/g, '_')}.wasm`, mimeType: 'application/wasm', buffer: readFileSync(join(guestTarget, 'wasm32-wasip2/release', `${p.replace(/-/g, '_')}.wasm`)) });

const server = await startSwitchboard();
const base = server.base;
const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
try {
  const page = await (await browser.newContext({ viewport: { width: 1440, height: 1000 } })).newPage();
  page.on('pageerror', (e) => r.fail('page error:', e.message));

  step('an owner signs up and makes a queue');
  const call = await signUp(page, base, { business: 'Plugin Partners', name: 'Pat Plugin', email: 'pat@plugins.example' });
  const queue = (await call('POST', '/api/v1/queues', { name: 'Support' })).body;
  const contact = async (attributes = {}) => {
    const c = await call('POST', '/api/v1/contacts', { channel: 'task', queue_id: queue.id, attributes });
    check(c.status === 201, `a contact is accepted while a plugin runs (${c.status})`);
    return c.body;
  };

  step('opens Plugins: nothing yet');
  await page.getByRole('link', { name: 'Plugins' }).click();
  await page.getByText('No plugins yet').waitFor();
  await shot(page, '01-plugins-empty');
  await axe(page, 'plugins (empty)');

  step('a file that is not a plugin is refused with the reason, and nothing is stored');
  const upload = page.getByRole('form', { name: 'Upload a plugin' });
  await upload.getByLabel('Component (.wasm)').setInputFiles({ name: 'notes.wasm', mimeType: 'application/wasm', buffer: Buffer.from('these are my notes, not WebAssembly') });
  check((await upload.getByLabel('Name').inputValue()) === 'notes', 'the name is suggested from the file name');
  await upload.getByRole('button', { name: 'Upload' }).click();
  await upload.getByText('Please correct the highlighted fields.').waitFor();
  const refusal = await upload.locator('.field-error').innerText();
  check(/webassembly|component/i.test(refusal), `the refusal says why: "${refusal}"`);
  check((await call('GET', '/api/v1/plugins')).body.items.length === 0, 'nothing was stored');
  await shot(page, '02-refused-upload');

  step('uploads a plugin (priority 7) and activates it');
  await upload.getByLabel('Component (.wasm)').setInputFiles(wasm('fixture-trivial'));
  await upload.getByLabel('Name').fill('routing');
  await upload.getByLabel('Note').fill('everyone gets priority 7');
  await upload.getByRole('button', { name: 'Upload' }).click();
  const detail = page.locator('section[aria-labelledby="plugin-title"]');
  await page.getByRole('heading', { name: /routing/ }).getByText('not running').waitFor();
  check(await detail.getByRole('cell', { name: 'everyone gets priority 7' }).isVisible(), 'version 1 is listed with its note');
  await detail.getByRole('button', { name: 'Activate version 1' }).click();
  await page.getByRole('heading', { name: /routing/ }).getByText('running version 1').waitFor();
  const seen = [];
  for (let i = 0; i < 3; i++) seen.push(await contact());
  check(seen.every((c) => c.priority === 7 && c.attributes.seen === 'yes'), 'contacts arriving now get priority 7 and seen=yes');
  const calls = page.getByRole('region', { name: 'Calls' });
  await calls.getByText('route: priority 7, seen=yes').first().waitFor({ timeout: 10_000 });
  check((await calls.getByText('route: priority 7, seen=yes').count()) === 3, 'the calls list shows each call live with what it decided');
  await shot(page, '03-running-with-calls');

  step('uploads a business-hours version, sets its secret and grants it');
  await upload.getByLabel('Plugin').selectOption({ label: 'New version of routing' });
  await upload.getByLabel('Component (.wasm)').setInputFiles(wasm('example-business-hours'));
  await upload.getByLabel('Note').fill('closed hours tag texts');
  await upload.getByRole('button', { name: 'Upload' }).click();
  await detail.getByRole('cell', { name: 'closed hours tag texts' }).waitFor();
  check(await detail.getByRole('cell', { name: 'the secret schedule' }).isVisible(), 'version 2 shows that it asks for the secret "schedule"');
  const secretForm = page.getByRole('form', { name: 'Set a secret' });
  const schedule = '{"utc_offset_minutes":0,"week":{},"holidays":[]}';
  await secretForm.getByLabel('Secret name').fill('schedule');
  await secretForm.getByLabel('Value').fill(schedule);
  await secretForm.getByRole('button', { name: 'Save secret' }).click();
  await page.getByRole('cell', { name: 'schedule', exact: true }).waitFor();
  check(!(await page.content()).includes('utc_offset_minutes'), 'the secret value is not on the page once saved');
  const grants = page.getByRole('form', { name: 'Grants' });
  await grants.getByLabel('Secrets it may read').fill('schedule');
  await grants.getByRole('button', { name: 'Save grants' }).click();
  await page.getByText('Grants saved').waitFor();
  check((await call('GET', '/api/v1/plugins/routing')).body.grants.secrets.join() === 'schedule', 'the grant is stored');

  step('replays version 2 against the recent contacts before it runs');
  await detail.getByRole('button', { name: 'Replay version 2' }).click();
  const replay = page.getByRole('region', { name: 'Replay of version 2' });
  await replay.waitFor();
  const summary = await replay.locator('p').innerText();
  check(summary.startsWith('3 of 3 recent contacts would be handled differently than by version 1'), `the replay says what would change: "${summary}"`);
  check((await replay.getByText('after_hours=yes').count()) === 3, 'each replayed contact shows the would-be decision (after_hours=yes)');
  check((await replay.getByText('route: priority 7, seen=yes').count()) === 3, 'next to what the running version decides for them as they arrived');
  const still = (await call('GET', `/api/v1/contacts/${seen[0].id}`)).body;
  check(still.priority === 7 && still.attributes.after_hours === undefined, 'replay changed no contact');
  await shot(page, '04-replay');
  await axe(page, 'plugins (replay, calls, grants)');

  step('activates version 2, then rolls back to version 1');
  await detail.getByRole('button', { name: 'Activate version 2' }).click();
  await page.getByRole('heading', { name: /routing/ }).getByText('running version 2').waitFor();
  const closed = await contact();
  check(closed.attributes.after_hours === 'yes' && closed.priority !== 7, 'with version 2 a contact is tagged after_hours and keeps the queue\'s priority');
  await detail.getByRole('button', { name: 'Roll back to version 1' }).click();
  await page.getByRole('heading', { name: /routing/ }).getByText('running version 1').waitFor();
  check((await contact()).priority === 7, 'after the roll-back contacts get priority 7 again');
  await calls.getByText(/after_hours=yes/).first().waitFor({ timeout: 10_000 });
  check((await calls.getByRole('row').filter({ hasText: 'after_hours=yes' }).count()) === 1, 'the calls list shows version 2\'s call among version 1\'s');

  step('a hostile plugin: refused while another handles the hook, then granted, and its failures shown');
  await upload.getByLabel('Plugin').selectOption({ label: 'A new plugin…' });
  await upload.getByLabel('Component (.wasm)').setInputFiles(wasm('fixture-hostile'));
  await upload.getByLabel('Name').fill('risky');
  await upload.getByRole('button', { name: 'Upload' }).click();
  await page.getByRole('heading', { name: /risky/ }).waitFor();
  await detail.getByRole('button', { name: 'Activate version 1' }).click();
  const conflict = await detail.getByRole('alert').innerText();
  check(/routing/.test(conflict) && /deactivate/i.test(conflict), `activating it while "routing" runs is refused: "${conflict}"`);
  await page.getByRole('button', { name: 'routing', exact: true }).click();
  await detail.getByRole('button', { name: 'Turn off' }).click();
  await page.getByRole('heading', { name: /routing/ }).getByText('not running').waitFor();
  await page.getByRole('button', { name: 'risky', exact: true }).click();
  await detail.getByRole('button', { name: 'Activate version 1' }).click();
  await page.getByRole('heading', { name: /risky/ }).getByText('running version 1').waitFor();
  const banner = detail.locator('.banner.warn');
  check((await banner.innerText()).includes('the key-value store'), 'a banner says what the running version asks for and is not granted');
  await shot(page, '05-missing-grants');
  await banner.getByRole('button', { name: 'Grant what it asks' }).click();
  await banner.waitFor({ state: 'detached' });
  const granted = (await call('GET', '/api/v1/plugins/risky')).body;
  check(granted.grants.kv && granted.grants.http_hosts.includes('allowed.test'), 'one click granted what it asks');
  const crashed = await contact({ do: 'panic' });
  const spun = await contact({ do: 'spin' });
  check(crashed.priority !== 7 && spun.attributes.do === 'spin', 'contacts whose plugin call failed are routed as if there were no plugin');
  await calls.getByText('timed out').first().waitFor({ timeout: 10_000 });
  check(await calls.getByText('crashed').first().isVisible(), 'the panic shows as "crashed"');
  await calls.getByRole('row').filter({ hasText: 'crashed' }).getByText(/log line/).click();
  check(/the plugin gave up/.test(await calls.getByRole('row').filter({ hasText: 'crashed' }).innerText()), 'with the panic message');
  await shot(page, '06-failures');
  await axe(page, 'plugins (failures)');

  step('deletes the hostile plugin');
  await detail.getByRole('button', { name: 'Delete plugin' }).click();
  await page.getByRole('heading', { name: /risky/ }).waitFor({ state: 'detached' });
  check((await call('GET', '/api/v1/plugins')).body.items.map((p) => p.name).join() === 'routing', 'only "routing" is left');
} catch (e) {
  await r.crashed(browser, e);
} finally {
  await browser.close();
  server.stop();
}
r.finish();
