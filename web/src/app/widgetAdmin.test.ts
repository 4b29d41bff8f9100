import { describe, expect, it } from 'vitest';
import { snippet } from './widgetAdmin';

describe('widget snippet', () => {
  it('names the server, the key and the look, with attribute text escaped', () => {
    const s = snippet('https://sb.example', 'wk_abc', 'Say "hi" <now> & more', '#112233');
    expect(s).toBe(
      '<script src="https://sb.example/widget.js" data-widget-key="wk_abc" data-title="Say &quot;hi&quot; &lt;now> &amp; more" data-color="#112233" async></script>',
    );
  });
});
