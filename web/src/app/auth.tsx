// Signup, login and accepting an invitation.
import { api, startSession } from './state';
import { PlanChoice, checkout, usePlans } from './billing';
import { FormError, TextField, useForm } from './ui';
import { navigate } from '../lib/router';
import type { Tokens } from '../lib/api';

export function Logo() {
  return (
    <div class="brand">
      <span class="logo" aria-hidden="true">
        <svg width="16" height="16" viewBox="0 0 16 16"><path d="M2 4h12M2 8h8M2 12h10" stroke="#fff" stroke-width="2.2" stroke-linecap="round" /></svg>
      </span>
      Switchboard
    </div>
  );
}

export function Signup() {
  const f = useForm({ business_name: '', name: '', email: '', password: '', plan: '' });
  const plans = usePlans();
  const plan = f.values.plan || plans?.default_plan || '';
  return (
    <main class="auth">
      <form
        class="card stack"
        aria-labelledby="signup-title"
        onSubmit={(e) => {
          e.preventDefault();
          void f.submit(async (v) => {
            const chosen = plans?.enabled ? plans.plans.find((p) => p.id === plan) : undefined;
            const res = await api.post<{ tokens: Tokens }>('/api/v1/signup', { ...v, name: v.name || undefined, plan: chosen?.id });
            await startSession(res.tokens);
            // A paid plan goes on to Stripe Checkout; if that fails, the billing page offers it again.
            if (chosen?.subscribable) await checkout(chosen.id).catch(() => navigate('/admin/billing'));
          });
        }}
      >
        <Logo />
        <h1 id="signup-title">Start your contact center</h1>
        <p class="lead">Phone, SMS, e-mail and chat in one queue. Free while you set up.</p>
        <FormError error={f.error} />
        <TextField label="Business name" value={f.values.business_name} onInput={f.set('business_name')} error={f.errors.business_name} required autoComplete="organization" />
        <TextField label="Your name" value={f.values.name} onInput={f.set('name')} error={f.errors.name} autoComplete="name" />
        <TextField label="Work e-mail" type="email" value={f.values.email} onInput={f.set('email')} error={f.errors.email} required autoComplete="email" />
        <TextField label="Password" type="password" value={f.values.password} onInput={f.set('password')} error={f.errors.password} hint="At least 10 characters." required autoComplete="new-password" />
        <PlanChoice plans={plans} value={plan} onChange={f.set('plan')} error={f.errors.plan} />
        <button class="primary" type="submit" disabled={f.busy}>{f.busy ? 'Creating…' : 'Create account'}</button>
        <p class="muted small">
          Already have an account? <a href="/login" onClick={(e) => (e.preventDefault(), navigate('/login'))}>Log in</a>
        </p>
      </form>
    </main>
  );
}

export function Login() {
  const f = useForm({ email: '', password: '' });
  return (
    <main class="auth">
      <form
        class="card stack"
        aria-labelledby="login-title"
        onSubmit={(e) => {
          e.preventDefault();
          void f.submit(async (v) => startSession(await api.post<Tokens>('/api/v1/auth/login', v)));
        }}
      >
        <Logo />
        <h1 id="login-title">Log in</h1>
        <FormError error={f.error} />
        <TextField label="E-mail" type="email" value={f.values.email} onInput={f.set('email')} error={f.errors.email} required autoComplete="username" />
        <TextField label="Password" type="password" value={f.values.password} onInput={f.set('password')} error={f.errors.password} required autoComplete="current-password" />
        <button class="primary" type="submit" disabled={f.busy}>{f.busy ? 'Logging in…' : 'Log in'}</button>
        <p class="muted small">
          New here? <a href="/signup" onClick={(e) => (e.preventDefault(), navigate('/signup'))}>Sign up your business</a>
        </p>
      </form>
    </main>
  );
}

export function AcceptInvite() {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
  const f = useForm({ password: '' });
  return (
    <main class="auth">
      <form
        class="card stack"
        aria-labelledby="invite-title"
        onSubmit={(e) => {
          e.preventDefault();
          void f.submit(async (v) => startSession(await api.post<Tokens>('/api/v1/auth/accept-invite', { invite_token: token, password: v.password })));
        }}
      >
        <Logo />
        <h1 id="invite-title">Join your team</h1>
        <p class="lead">Choose a password to finish setting up your account.</p>
        <FormError error={token ? f.error : 'This invitation link is incomplete; ask your admin for a new one.'} />
        <TextField label="Password" type="password" value={f.values.password} onInput={f.set('password')} error={f.errors.password} hint="At least 10 characters." required autoComplete="new-password" />
        <button class="primary" type="submit" disabled={f.busy || !token}>Set password</button>
      </form>
    </main>
  );
}
