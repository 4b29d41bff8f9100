// E-mail composing: reply subjects and quoting the message being answered.

export function replySubject(subject: string | undefined): string {
  const s = (subject ?? '').trim();
  if (!s) return 'Re: your message';
  return /^re:/i.test(s) ? s : `Re: ${s}`;
}

/** The customer's message quoted below the reply, as mail clients do. */
export function quote(body: string, from: string, at: number, locale = 'en-GB'): string {
  const when = new Date(at).toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
  const lines = body.replace(/\r\n/g, '\n').split('\n').map((l) => (l.startsWith('>') ? `>${l}` : `> ${l}`));
  return `\n\nOn ${when} UTC, ${from} wrote:\n${lines.join('\n')}`;
}
