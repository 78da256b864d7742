/** The page itself. No inline script or style: everything comes from /app.js and /style.css (CSP). */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agent Relay</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/style.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>Agent Relay</h1>
  <span id="relay" class="muted"></span>
  <span id="live" class="live off" role="status">connecting…</span>
</header>
<main>
  <p id="notice" class="notice" role="alert" hidden></p>
  <p id="only" class="note" hidden></p>

  <section aria-labelledby="agents-title">
    <h2 id="agents-title">Agents</h2>
    <table id="agents">
      <thead>
        <tr><th>Agent</th><th>Target</th><th>Status</th><th>Public URL</th><th class="right">Public</th></tr>
      </thead>
      <tbody></tbody>
    </table>
    <p id="no-agents" class="muted" hidden>No agents yet. Create one below.</p>

    <form id="create" class="create" autocomplete="off">
      <h3>New agent</h3>
      <label>Name <input name="name" required maxlength="64" placeholder="my-agent"></label>
      <label>Target <input name="target" required placeholder="http://127.0.0.1:3000"></label>
      <button type="submit">Create</button>
      <span id="create-error" class="error-text" role="alert"></span>
    </form>
  </section>

  <section aria-labelledby="requests-title">
    <h2 id="requests-title">Requests <span class="muted small">live · last 500 · no bodies, no query strings</span></h2>
    <table id="requests">
      <thead>
        <tr><th>Time</th><th>Agent</th><th>Method</th><th>Path</th><th class="right">Status</th><th class="right">Duration</th><th class="right">Bytes in / out</th></tr>
      </thead>
      <tbody></tbody>
    </table>
    <p id="no-requests" class="muted">No requests yet.</p>
  </section>
</main>

<dialog id="confirm" aria-labelledby="confirm-title">
  <h2 id="confirm-title">Make <span data-field="name"></span> public?</h2>
  <p>While it is on, <strong data-field="name"></strong> is publicly reachable at</p>
  <p class="dialog-url"><code data-field="url"></code></p>
  <p data-field="url-note" class="muted small" hidden>Expected URL; the exact one shows here once the agent connects.</p>
  <p>Anyone who has this URL can send requests to your local server <code data-field="target"></code>.
     <strong>The local server's own access keys are the only protection.</strong></p>
  <p data-field="check" class="check muted small">Checking whether the local server asks for credentials…</p>
  <div class="actions">
    <button type="button" id="confirm-cancel">Cancel</button>
    <button type="button" id="confirm-enable" class="danger">Enable</button>
  </div>
</dialog>
</body>
</html>
`;

export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#1f7a4d"/><path d="M4 8h8M9 5l3 3-3 3" stroke="#fff" stroke-width="1.6" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>
`;
