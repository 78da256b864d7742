/** The page's style: system font, plain tables, clear badge colours. */

export const STYLE_CSS = `:root {
  --fg: #1c1f23; --muted: #6a737d; --line: #e3e6ea; --bg: #ffffff; --panel: #f7f8fa;
  --green: #1f7a4d; --green-bg: #e3f4ea; --amber: #8a5a00; --amber-bg: #fff3d6;
  --red: #b42318; --red-bg: #fde8e6; --grey: #4b5563; --grey-bg: #eef0f3; --accent: #2456c8;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
header { display: flex; align-items: baseline; gap: 16px; padding: 14px 28px; border-bottom: 1px solid var(--line); }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 15px; margin: 28px 0 10px; }
h3 { font-size: 13px; margin: 0 8px 0 0; color: var(--muted); font-weight: 600; }
main { padding: 0 28px 40px; max-width: 1280px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.muted { color: var(--muted); }
.small { font-size: 12px; font-weight: normal; }
.right { text-align: right; }
#live { margin-left: auto; font-size: 12px; }
.live::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: var(--green); }
.live.off::before { background: var(--amber); }
.live.dead::before { background: var(--red); }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-weight: 600; font-size: 12px; color: var(--muted); padding: 6px 10px; border-bottom: 1px solid var(--line); }
td { padding: 9px 10px; border-bottom: 1px solid var(--line); vertical-align: middle; }
#requests td { padding: 5px 10px; }
#requests tbody tr:nth-child(odd) { background: var(--panel); }
.name { font-weight: 600; }
.addr { display: block; color: var(--muted); }
.badge { display: inline-block; padding: 2px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.badge.disconnected { color: var(--grey); background: var(--grey-bg); }
.badge.connecting { color: var(--amber); background: var(--amber-bg); }
.badge.connected { color: var(--green); background: var(--green-bg); }
.badge.error { color: var(--red); background: var(--red-bg); }
.reason { display: block; color: var(--red); font-size: 12px; margin-top: 3px; max-width: 320px; }
.since { color: var(--muted); font-size: 12px; margin-left: 6px; }
.url { display: flex; align-items: center; gap: 8px; }
.url code { overflow-wrap: anywhere; }
.url.inexact code { color: var(--muted); }
.tag { font-size: 11px; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; }
button { font: inherit; border: 1px solid #c9ced6; background: #fff; border-radius: 6px; padding: 5px 12px; cursor: pointer; }
button:hover { background: var(--panel); }
button:disabled { opacity: .5; cursor: default; }
button.copy { padding: 2px 8px; font-size: 12px; }
button.danger { background: var(--red); border-color: var(--red); color: #fff; }
button.danger:hover { background: #9a1d13; }
.switch { position: relative; width: 40px; height: 22px; padding: 0; border-radius: 999px; border: none; background: #c9ced6; }
.switch::after { content: ""; position: absolute; top: 3px; left: 3px; width: 16px; height: 16px; border-radius: 50%; background: #fff; transition: left .12s; }
.switch[aria-checked="true"] { background: var(--green); }
.switch[aria-checked="true"]::after { left: 21px; }
.switch:hover { background: #b5bcc6; }
.switch[aria-checked="true"]:hover { background: #196640; }
.switch:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.create { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; margin-top: 14px; padding: 12px 14px; background: var(--panel); border-radius: 8px; }
.create label { display: flex; align-items: center; gap: 6px; color: var(--muted); font-size: 12px; }
.create input { font: inherit; padding: 5px 8px; border: 1px solid #c9ced6; border-radius: 6px; width: 220px; color: var(--fg); }
.error-text { color: var(--red); font-size: 12px; }
.notice { background: var(--red-bg); color: var(--red); padding: 8px 12px; border-radius: 6px; margin-top: 14px; }
.note { background: var(--amber-bg); color: var(--amber); padding: 8px 12px; border-radius: 6px; margin-top: 14px; }
.s2 { color: var(--green); } .s3 { color: var(--accent); } .s4 { color: var(--amber); } .s5 { color: var(--red); }
dialog { border: none; border-radius: 10px; padding: 22px 24px; max-width: 520px; box-shadow: 0 12px 40px rgba(0,0,0,.25); }
dialog::backdrop { background: rgba(20,24,28,.45); }
dialog h2 { margin-top: 0; font-size: 17px; }
.dialog-url { background: var(--panel); padding: 8px 10px; border-radius: 6px; overflow-wrap: anywhere; }
.check.warn { color: var(--red); }
.actions { display: flex; justify-content: flex-end; gap: 10px; margin-top: 18px; }
`;
