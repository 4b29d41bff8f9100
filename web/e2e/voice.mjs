// End-to-end: a phone call in the agent console, with real SIP peers. A switchboard with its edge
// on a loopback port; baresip registered as the agent's desk phone (digest auth, auto-answer);
// sipp as the caller on a tenant number. The agent accepts in headless Chromium, the desk phone
// rings and answers, and the console's call bar follows the call live: on the call, hold (music),
// resume, hang up; the Transfer dialog offers a phone number for calls. Screens go to
// e2e/artifacts-voice and are checked with axe-core.
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { chromiumArgs, chromiumPath, run, signUp, startSwitchboard, web } from './harness.mjs';

const r = run('artifacts-voice');
const { step, check, axe, shot } = r;

for (const tool of ['sipp', 'baresip']) {
  if (spawnSync('which', [tool]).status !== 0) {
    if (process.env.CI === 'true') {
      r.fail(`${tool} is missing (infra/services.sh installs it)`);
      r.finish();
    }
    console.error(`\n*** e2e voice SKIPPED: ${tool} is not installed ***\n`);
    process.exit(0);
  }
}

const freeUdpPort = () =>
  new Promise((ok) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => ok(p));
    });
  });

/** A 1 kHz tone, 8 kHz mono 16-bit WAV: what the desk phone "says". */
function toneWav(path, seconds) {
  const n = 8000 * seconds;
  const data = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 8000)), i * 2);
  const head = Buffer.alloc(44);
  head.write('RIFF', 0);
  head.writeUInt32LE(36 + data.length, 4);
  head.write('WAVEfmt ', 8);
  head.writeUInt32LE(16, 16);
  head.writeUInt16LE(1, 20);
  head.writeUInt16LE(1, 22);
  head.writeUInt32LE(8000, 24);
  head.writeUInt32LE(16000, 28);
  head.writeUInt16LE(2, 32);
  head.writeUInt16LE(16, 34);
  head.write('data', 36);
  head.writeUInt32LE(data.length, 40);
  writeFileSync(path, Buffer.concat([head, data]));
}

const sipPort = await freeUdpPort();
const server = await startSwitchboard({ SWITCHBOARD_SIP_ADDR: `127.0.0.1:${sipPort}`, SWITCHBOARD_RTP_PORTS: '31000-31199' });
const base = server.base;
const scratch = mkdtempSync(join(tmpdir(), 'sb-e2e-voice-'));
const children = [];
const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
try {
  const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  page.on('pageerror', (e) => r.fail('page error:', e.message));

  step('a business signs up with a hotline number and a desk phone login');
  const call = await signUp(page, base, { business: 'Ring Ring Ltd', name: 'Dana Desk', email: 'dana@ring.example' });
  const me = (await call('GET', '/api/v1/me')).body;
  const userId = me.user.id;
  const queue = (await call('POST', '/api/v1/queues', { name: 'Support' })).body;
  const number = await call('POST', '/api/v1/endpoints', { kind: 'voice_number', address: '+14155550188', name: 'Hotline', queue_id: queue.id });
  check(number.status === 201, `the hotline number is set up (${number.status})`);
  const login = await call('PUT', `/api/v1/users/${userId}/sip-account`, { username: 'dana-desk', password: 'correct-horse-battery' });
  check(login.status === 200, `the desk phone login is set (${login.status})`);

  step('the desk phone (baresip) registers with digest authentication');
  const tone = join(scratch, 'tone.wav');
  toneWav(tone, 120);
  writeFileSync(
    join(scratch, 'config'),
    [
      'poll_method\t\tpoll',
      'sip_listen\t\t127.0.0.1:0',
      'rtp_ports\t\t31400-31409',
      'audio_player\t\taubridge,nowhere',
      `audio_source\t\taufile,${tone}`,
      'audio_alert\t\taubridge,nowhere',
      'module_path\t\t/usr/lib/baresip/modules',
      'module\t\t\tg711.so',
      'module\t\t\taufile.so',
      'module\t\t\taubridge.so',
      'module_app\t\taccount.so',
      'module_app\t\tmenu.so',
      '',
    ].join('\n'),
  );
  writeFileSync(join(scratch, 'accounts'), `<sip:dana-desk@127.0.0.1:${sipPort};transport=udp>;auth_pass=correct-horse-battery;answermode=auto;regint=300;audio_codecs=PCMU\n`);
  writeFileSync(join(scratch, 'contacts'), '');
  const phone = spawn('baresip', ['-f', scratch, '-s'], { stdio: ['ignore', 'ignore', 'ignore'] });
  children.push(phone);
  let registered = false;
  for (let i = 0; i < 100 && !registered; i++) {
    registered = (await call('GET', `/api/v1/users/${userId}/sip-account`)).body?.registered === true;
    if (!registered) await new Promise((ok) => setTimeout(ok, 100));
  }
  check(registered, 'the platform sees the desk phone registered');

  step('the agent opens the console and goes available');
  await page.goto(`${base}/console`);
  await page.getByText('Live', { exact: true }).waitFor();
  await page.getByLabel('Presence').selectOption('available');
  await page.locator('.badge.available').first().waitFor();

  step('a customer calls the hotline (sipp) and the agent accepts');
  const sippDir = join(scratch, 'sipp');
  rmSync(sippDir, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', sippDir]);
  const scenario = resolve(web, '../media-edge/edge/tests/sipp/call_agent.xml');
  const caller = spawn(
    'sipp',
    ['-sf', scenario, '-s', '+14155550188', '-m', '1', '-l', '1', '-t', 'u1', '-i', '127.0.0.1', '-p', String(await freeUdpPort()), '-mi', '127.0.0.1', '-mp', '31600', '-timeout', '60s', '-timeout_error', '-nostdin', `127.0.0.1:${sipPort}`],
    { cwd: sippDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(caller);
  // sipp redraws its screen on stdout every second: an undrained pipe fills and stalls it mid-call.
  // Keep the last few kilobytes to show when the call fails.
  let callerOutput = '';
  const keep = (chunk) => {
    callerOutput = (callerOutput + chunk.toString()).slice(-8000);
  };
  caller.stdout.on('data', keep);
  caller.stderr.on('data', keep);
  const callerDone = new Promise((ok) => caller.on('exit', (code) => ok(code)));
  await page.getByRole('button', { name: 'Accept' }).click({ timeout: 20_000 });
  const bar = page.getByRole('region', { name: 'Call' });
  const answered = await bar.getByText('On the call').waitFor({ timeout: 20_000 }).then(() => true, () => false);
  check(answered, 'the desk phone rang and answered: the call bar says "On the call"');
  if (!answered) throw new Error(`no bridged call; the bar says: ${await bar.innerText().catch(() => 'nothing')}`);
  check(!(await page.locator('#composer').isVisible()), 'a call has no text composer');
  await shot(page, '01-on-the-call');
  await axe(page, 'console on a call');

  step('hold and resume from the console');
  await bar.getByRole('button', { name: 'Hold' }).click();
  await bar.getByText('Caller on hold (hearing music)').waitFor({ timeout: 10_000 });
  check(await bar.getByRole('button', { name: 'Resume' }).isVisible(), 'on hold the bar offers Resume, not Hold');
  await shot(page, '02-on-hold');
  await bar.getByRole('button', { name: 'Resume' }).click();
  await bar.getByText('On the call').waitFor({ timeout: 10_000 });

  step('the transfer dialog offers a phone number for calls');
  await page.getByRole('button', { name: 'Transfer' }).click();
  const dialog = page.getByRole('dialog', { name: 'Transfer' });
  await dialog.getByLabel('To').selectOption({ label: 'A phone number…' });
  await dialog.getByLabel('Phone number').fill('call me maybe');
  check(await dialog.getByRole('button', { name: 'Transfer' }).isDisabled(), 'a number that is not one cannot be sent');
  await dialog.getByLabel('Phone number').fill('+1 (415) 555-0100');
  check(await dialog.getByRole('button', { name: 'Transfer' }).isEnabled(), 'a typed number with spaces and brackets is taken');
  await shot(page, '03-transfer-to-a-number');
  await dialog.getByRole('button', { name: 'Cancel' }).click();

  step('the agent hangs up; the caller hears the end and the contact stays open to finish');
  await bar.getByRole('button', { name: 'Hang up' }).click();
  const code = await Promise.race([callerDone, new Promise((ok) => setTimeout(() => ok('timeout'), 20_000))]);
  check(code === 0, `the caller got the BYE and sipp finished cleanly (exit ${code})`);
  if (code !== 0) console.log(`sipp said:\n${callerOutput.slice(-3000)}`);
  await page.getByRole('button', { name: 'Wrap up' }).waitFor();
  const contacts = (await call('GET', '/api/v1/agent/contacts')).body.items;
  check(contacts.length === 1 && contacts[0].channel === 'voice', 'the call is still the agent\'s to finish');
  await shot(page, '04-after-hang-up');
} catch (e) {
  await r.crashed(browser, e);
} finally {
  await browser.close();
  for (const c of children) c.kill('SIGTERM');
  server.stop();
  rmSync(scratch, { recursive: true, force: true });
}
r.finish();
