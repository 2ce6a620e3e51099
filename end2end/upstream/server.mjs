// The app the browser tests put behind Bouncer: a stand-in for a customer's
// own product, in plain Node (`http` only). It serves
//
// - `/player`: an HTML page that includes `/bouncer.js` and plays a counter
//   without making any request (like Bouncer's `/watch`), with an idle
//   banner and its "Stay signed in" button; `/player?handle-ended` also
//   handles an ending itself instead of going to the login page;
// - `/`: a page linking to it;
// - `/api-upstream/data`: JSON echoing the `X-Bouncer-*` and forwarding
//   headers it received (its own API lives outside Bouncer's `/api/`).
//
// It records every request it gets, so a test can tell what reached it.
// Run alone: `node end2end/upstream/server.mjs [PORT]`.
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

/** The player page; docs/INTEGRATION.md shows it as the example page. */
export const PLAYER = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Player</title>
  <script src="/bouncer.js" defer></script>
</head>
<body>
  <p>Playing: <span id="time" data-playing="true">0.0</span> s</p>
  <div id="idle" role="status" hidden>
    You will be signed out in <strong id="left"></strong> s because of inactivity.
    <button type="button" id="stay">Stay signed in</button>
  </div>
  <p id="ended" role="alert" hidden></p>
  <!-- A module runs after the deferred /bouncer.js, so Bouncer is defined. -->
  <script type="module">
    const element = (id) => document.getElementById(id);
    const started = Date.now();
    let deadline = null;
    const tick = setInterval(() => {
      element('time').textContent = ((Date.now() - started) / 1000).toFixed(1);
      if (deadline) element('left').textContent = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    }, 100);

    Bouncer.on('warning', (event) => {
      deadline = event.deadline;
      element('idle').hidden = false;
    });
    Bouncer.on('extended', () => {
      deadline = null;
      element('idle').hidden = true;
    });
    element('stay').addEventListener('click', () => Bouncer.stayActive());

    // Without this handler the tab goes to the login page when the session ends.
    if (new URLSearchParams(location.search).has('handle-ended')) {
      Bouncer.on('ended', (event) => {
        event.preventDefault();
        clearInterval(tick);
        element('time').dataset.playing = 'false';
        element('idle').hidden = true;
        const ended = element('ended');
        ended.dataset.reason = event.reason ?? '';
        ended.textContent = (event.message ?? 'Your session ended.') + ' ';
        const again = document.createElement('a');
        again.href = event.loginUrl;
        again.textContent = 'Sign in again';
        ended.append(again);
        ended.hidden = false;
      });
    }
  </script>
</body>
</html>
`;

const INDEX = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Upstream app</title><script src="/bouncer.js" defer></script></head>
<body><h1>Upstream app</h1><p><a href="/player">Player</a></p></body>
</html>
`;

/** What `/api-upstream/data` echoes: who Bouncer says the user is, and how the request came. */
function echo(request) {
  const headers = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (name.startsWith('x-bouncer-') || name.startsWith('x-forwarded-') || name === 'host') headers[name] = value;
  }
  return { path: request.url, headers };
}

function respond(request, response) {
  const path = new URL(request.url, 'http://upstream.invalid').pathname;
  const send = (status, type, body) => {
    response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    response.end(request.method === 'HEAD' ? undefined : body);
  };
  if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
  if (path === '/player') return send(200, 'text/html; charset=utf-8', PLAYER);
  if (path === '/') return send(200, 'text/html; charset=utf-8', INDEX);
  if (path === '/api-upstream/data') return send(200, 'application/json', JSON.stringify(echo(request)));
  return send(404, 'text/plain', 'not found\n');
}

/**
 * Starts the app on a loopback port (0: any free one). `requests` lists
 * every request received, oldest first: `{method, url, headers, at}`.
 */
export async function startUpstream({ port = 0 } = {}) {
  const requests = [];
  const server = createServer((request, response) => {
    requests.push({ method: request.method, url: request.url, headers: { ...request.headers }, at: Date.now() });
    respond(request, response);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: bound } = server.address();
  return {
    origin: `http://127.0.0.1:${bound}`,
    requests,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const app = await startUpstream({ port: Number(process.argv[2] ?? 0) });
  console.log(`upstream app on ${app.origin}`);
}
