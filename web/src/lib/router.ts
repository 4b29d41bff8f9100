// A tiny history router: the current path as a signal, links that push state.
import { signal } from '@preact/signals';

export const path = signal(typeof location === 'undefined' ? '/' : location.pathname);

export function navigate(to: string, replace = false) {
  if (to === path.value) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  path.value = to;
}

if (typeof window !== 'undefined') {
  window.addEventListener('popstate', () => (path.value = location.pathname));
}

/** Matches `/admin/:section` style patterns; returns the params or null. */
export function match(pattern: string, p: string): Record<string, string> | null {
  const a = pattern.split('/').filter(Boolean);
  const b = p.split('/').filter(Boolean);
  if (a.length !== b.length && !(a[a.length - 1] === '*' && b.length >= a.length - 1)) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '*') return out;
    if (a[i].startsWith(':')) out[a[i].slice(1)] = decodeURIComponent(b[i] ?? '');
    else if (a[i] !== b[i]) return null;
  }
  return out;
}
