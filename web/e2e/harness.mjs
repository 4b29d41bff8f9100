// What the end-to-end runs share: finding the binary and Chromium, starting a switchboard on free
// ports with its own data directory, checks that count failures, screenshots and axe-core.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const here = dirname(fileURLToPath(import.meta.url));
export const web = resolve(here, '..');
const root = resolve(web, '..');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : join(root, 'target');
const binary = process.env.SWITCHBOARD_BIN ?? join(targetDir, 'debug/switchboard');

export const freePort = () => new Promise((ok) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); }); });

/** A run: numbered checks, steps, screenshots under e2e/<dir>, accessibility checks. */
export function run(dir) {
  for (const [what, path] of [['chromium', chromiumPath], ['switchboard binary (cargo build --bin switchboard)', binary], ['web build (infra/web.sh build)', join(web, 'dist/index.html')]]) {
    if (!existsSync(path)) {
      console.error(`e2e: ${what} not found at ${path}`);
      process.exit(1);
    }
  }
  const artifacts = join(here, dir);
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });
  const axeSource = readFileSync(join(web, 'node_modules/axe-core/axe.min.js'), 'utf8');
  const r = {
    artifacts,
    failures: 0,
    step: (text) => console.log(`e2e: ${text}`),
    check(cond, text) {
      if (cond) console.log(`  ok   ${text}`);
      else {
        r.failures++;
        console.error(`  FAIL ${text}`);
      }
    },
    fail(text, e) {
      r.failures++;
      console.error(`  FAIL ${text}`, e ?? '');
    },
    async shot(page, name) {
      await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: false });
    },
    async axe(page, name, context) {
      await page.addScriptTag({ content: axeSource });
      const result = await page.evaluate(async (ctx) => {
        // eslint-disable-next-line no-undef
        const x = await axe.run(ctx ?? document, { resultTypes: ['violations'] });
        return x.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
      }, context);
      const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      for (const v of result) console.log(`       axe ${name}: ${v.impact} ${v.id} — ${v.help} ${JSON.stringify(v.nodes)}`);
      r.check(bad.length === 0, `accessibility of ${name}: no serious or critical axe violations (${result.length} minor)`);
    },
    /** Screenshots of every open page after an exception, then counts it. */
    async crashed(browser, e) {
      r.fail('FAILED:', e);
      for (const [i, ctx] of browser.contexts().entries()) for (const [j, p] of ctx.pages().entries()) await p.screenshot({ path: join(artifacts, `failure-${i}-${j}.png`) }).catch(() => {});
    },
    finish(extra = '') {
      console.log(r.failures ? `e2e: ${r.failures} failure(s); screenshots in ${artifacts}` : `e2e: all passed${extra}; screenshots in ${artifacts}`);
      process.exit(r.failures ? 1 : 0);
    },
  };
  return r;
}

/** Starts the real binary (embedded default) on a free port; `env` adds settings. */
export async function startSwitchboard(env = {}) {
  const port = await freePort();
  const smtpPort = await freePort();
  const base = `http://localhost:${port}`;
  const data = mkdtempSync(join(tmpdir(), 'sb-e2e-'));
  const child = spawn(binary, [], {
    env: {
      ...process.env,
      SWITCHBOARD_HTTP_ADDR: `127.0.0.1:${port}`,
      SWITCHBOARD_SMTP_ADDR: `127.0.0.1:${smtpPort}`,
      SWITCHBOARD_SIP_ADDR: '127.0.0.1:0',
      SWITCHBOARD_DATA_DIR: data,
      SWITCHBOARD_PUBLIC_URL: base,
      SWITCHBOARD_WEB_DIR: join(web, 'dist'),
      SWITCHBOARD_DATABASE_URL: '',
      SWITCHBOARD_AMQP_URL: '',
      SWITCHBOARD_LOG: 'warn',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) break;
    } catch {}
    if (i > 200) throw new Error('switchboard did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    port,
    stop() {
      child.kill('SIGTERM');
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Signs a business up in `page` and returns an API caller with the owner's token. */
export async function signUp(page, base, { business, name, email }) {
  await page.goto(`${base}/signup`);
  await page.getByLabel('Business name').fill(business);
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Work e-mail').fill(email);
  await page.getByLabel('Password').fill('a very good password 42');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL('**/admin/queues');
  const token = JSON.parse(await page.evaluate(() => localStorage.getItem('switchboard.tokens'))).access_token;
  return async (method, path, body) => {
    const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}
