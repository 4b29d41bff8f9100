// Keyboard shortcuts of the agent console. Alt+key so typing in a composer never triggers one.

export interface Shortcut {
  keys: string;
  action: 'accept' | 'reject' | 'available' | 'away' | 'next' | 'previous' | 'complete' | 'help' | 'focus-composer';
  label: string;
}

export const SHORTCUTS: Shortcut[] = [
  { keys: 'Alt+A', action: 'accept', label: 'Accept the ringing offer' },
  { keys: 'Alt+D', action: 'reject', label: 'Decline the ringing offer' },
  { keys: 'Alt+1', action: 'available', label: 'Go available' },
  { keys: 'Alt+2', action: 'away', label: 'Go away' },
  { keys: 'Alt+ArrowDown', action: 'next', label: 'Next conversation' },
  { keys: 'Alt+ArrowUp', action: 'previous', label: 'Previous conversation' },
  { keys: 'Alt+W', action: 'complete', label: 'Wrap up the open conversation' },
  { keys: 'Alt+R', action: 'focus-composer', label: 'Reply (focus the composer)' },
  { keys: '?', action: 'help', label: 'Show shortcuts' },
];

/** The shortcut a key event means, if any. `?` only counts outside text fields. */
export function shortcutFor(
  e: { key: string; code?: string; altKey: boolean; ctrlKey: boolean; metaKey: boolean },
  inTextField: boolean,
): Shortcut['action'] | null {
  if (e.ctrlKey || e.metaKey) return null;
  if (!e.altKey) return e.key === '?' && !inTextField ? 'help' : null;
  // Alt changes the character on some layouts (macOS): the physical key decides.
  const code = e.code ?? '';
  const key = code.startsWith('Key') ? code.slice(3) : code.startsWith('Digit') ? code.slice(5) : e.key.length === 1 ? e.key.toUpperCase() : e.key;
  const s = SHORTCUTS.find((x) => x.keys === `Alt+${key}`);
  return s ? s.action : null;
}
