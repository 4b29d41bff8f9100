// The widget's styles, inside its shadow root: the host page's CSS cannot reach in, ours cannot leak out.
export const css = (color: string) => `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
.launcher { position: fixed; right: 20px; bottom: 20px; width: 58px; height: 58px; border-radius: 50%; border: 0; background: ${color}; color: #fff; cursor: pointer; box-shadow: 0 6px 20px rgba(0,0,0,.25); display: grid; place-items: center; z-index: 2147483000; }
.launcher:focus-visible, button:focus-visible, input:focus-visible, textarea:focus-visible { outline: 3px solid #93c5fd; outline-offset: 2px; }
.panel { position: fixed; right: 20px; bottom: 90px; width: 370px; max-width: calc(100vw - 24px); height: 560px; max-height: calc(100vh - 110px); background: #fff; border-radius: 16px; box-shadow: 0 12px 40px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden; z-index: 2147483000; color: #1c2033; font-size: 14px; line-height: 1.4; }
@media (max-width: 480px) { .panel { right: 0; bottom: 0; width: 100vw; max-width: 100vw; height: 100%; max-height: 100%; border-radius: 0; } .launcher.open { display: none; } }
div.head { background: ${color}; color: #fff; padding: 14px 16px; display: flex; align-items: center; justify-content: space-between; gap: 8px; }
div.head h2 { margin: 0; font-size: 16px; }
div.head p { margin: 2px 0 0; font-size: 12px; opacity: .9; }
div.head button { background: transparent; border: 0; color: #fff; cursor: pointer; font-size: 20px; line-height: 1; padding: 4px 8px; border-radius: 6px; }
.body { flex: 1; overflow: auto; padding: 14px; display: flex; flex-direction: column; gap: 8px; background: #f7f8fb; }
.msg { max-width: 80%; padding: 8px 12px; border-radius: 14px; white-space: pre-wrap; word-wrap: break-word; }
.msg.inbound { align-self: flex-end; background: ${color}; color: #fff; border-bottom-right-radius: 4px; }
.msg.outbound { align-self: flex-start; background: #fff; border: 1px solid #e3e6ef; border-bottom-left-radius: 4px; }
.msg.pending { opacity: .6; }
.msg a { color: inherit; }
.meta { font-size: 11px; margin-top: 3px; }
.msg.outbound .meta { color: #5b6178; }
.note { text-align: center; font-size: 12px; color: #5b6178; padding: 4px; }
form.compose { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e3e6ef; align-items: flex-end; background: #fff; }
textarea, input { font: inherit; border: 1px solid #c4c9d8; border-radius: 10px; padding: 8px 10px; width: 100%; color: #1c2033; background: #fff; }
textarea { resize: none; min-height: 40px; max-height: 120px; }
button.send, button.primary { background: ${color}; color: #fff; border: 0; border-radius: 10px; padding: 9px 14px; font-weight: 600; cursor: pointer; font-size: 14px; }
button.icon { background: #eef0f6; border: 0; border-radius: 10px; padding: 9px 10px; cursor: pointer; color: #394060; }
button:disabled { opacity: .5; cursor: default; }
.form { padding: 16px; display: flex; flex-direction: column; gap: 10px; overflow: auto; }
label { display: flex; flex-direction: column; gap: 4px; font-size: 13px; font-weight: 600; color: #394060; }
.err { color: #b42318; font-size: 12px; font-weight: 500; }
.typing { font-size: 12px; color: #5b6178; padding: 0 2px; }
.footer { display: flex; justify-content: space-between; padding: 6px 12px; font-size: 12px; background: #fff; border-top: 1px solid #f0f1f5; }
.footer button { background: none; border: 0; color: #5b6178; cursor: pointer; text-decoration: underline; font-size: 12px; padding: 2px; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;
