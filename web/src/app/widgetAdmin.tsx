// The widget's embed snippet and a live preview (the real widget script in preview mode: it
// renders a sample conversation and makes no requests).

const attr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

export function snippet(origin: string, key: string, title: string, color: string): string {
  return `<script src="${origin}/widget.js" data-widget-key="${attr(key)}" data-title="${attr(title)}" data-color="${attr(color)}" async></script>`;
}

export function WidgetPreview(props: { title: string; color: string }) {
  const doc = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Widget preview</title><style>body{margin:0;font-family:system-ui,sans-serif;background:#f3f4f8;height:100vh}main{padding:24px;color:#555}</style></head><body><main><h1 style="font-size:18px">Your website</h1><p>The widget sits in the corner of every page.</p></main><script src="/widget.js" data-preview="true" data-title="${attr(props.title)}" data-color="${attr(props.color)}"></script></body></html>`;
  return <iframe title="Chat widget preview" srcdoc={doc} style="width:100%;height:560px;border:1px solid var(--line);border-radius:10px;background:#fff" />;
}
