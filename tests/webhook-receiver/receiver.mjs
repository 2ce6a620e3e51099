// A webhook receiver for Bouncer's tests and benchmarks, as another system
// would run one: every request is verified with the Standard Webhooks
// reference library (npm `standardwebhooks`, not Bouncer's code),
// deduplicated by `webhook-id`, and checked for order.
//
//   WEBHOOK_SECRET=whsec_… node receiver.mjs [port]
//
// Prints `{"port": N}` on its first line once listening (port 0, the
// default, picks a free one). Any POST path is an endpoint of its own:
// its events are counted and ordered separately.
//
//   POST <path>        a webhook: 204, or 400 when it fails verification,
//                      or 500 while failing is switched on
//   POST /_control     {"fail_for_ms": n} answers 500 to every webhook for
//                      n ms; {"fail_next": n} to the next n; {"reset": true}
//   GET  /_report      what arrived, per path: `seqs` (each event's seq, in
//                      the order of first arrival), `arrived_at` (epoch ms
//                      of each first arrival, fractional), `duplicates`
//                      (repeats of an id already seen), `invalid`,
//                      `out_of_order` (first arrivals with a seq not above
//                      the last), `failed` (500s given), `tests`
//                      (webhook.test requests)
//   GET  /_count       the same without `seqs` and `arrived_at`, plus
//                      `received` (how many distinct events): cheap to poll

import http from "node:http";
import { performance } from "node:perf_hooks";
import { Webhook } from "standardwebhooks";

const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error("WEBHOOK_SECRET is not set");
  process.exit(2);
}
const webhook = new Webhook(secret);
const port = Number(process.argv[2] ?? 0);

let failUntil = 0;
let failNext = 0;
const endpoints = new Map();

function endpoint(path) {
  let e = endpoints.get(path);
  if (!e) {
    e = { seen: new Set(), seqs: [], arrived_at: [], duplicates: 0, invalid: 0, out_of_order: 0, failed: 0, tests: 0, last: 0 };
    endpoints.set(path, e);
  }
  return e;
}

function now() {
  return performance.timeOrigin + performance.now();
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function answer(response, status, body) {
  if (body === undefined) {
    response.writeHead(status).end();
  } else {
    const text = JSON.stringify(body);
    response.writeHead(status, { "content-type": "application/json" }).end(text);
  }
}

function report(full) {
  const out = {};
  for (const [path, e] of endpoints) {
    const { seen, last, seqs, arrived_at, ...counts } = e;
    out[path] = full ? { seqs, arrived_at, ...counts } : { received: seqs.length, ...counts };
  }
  return out;
}

const server = http.createServer(async (request, response) => {
  const arrived = now();
  const body = await readBody(request);
  if (request.method === "GET" && request.url === "/_report") {
    return answer(response, 200, report(true));
  }
  if (request.method === "GET" && request.url === "/_count") {
    return answer(response, 200, report(false));
  }
  if (request.method === "POST" && request.url === "/_control") {
    const control = JSON.parse(body || "{}");
    if (control.reset) {
      endpoints.clear();
      failUntil = 0;
      failNext = 0;
    }
    if ("fail_for_ms" in control) failUntil = now() + control.fail_for_ms;
    if ("fail_next" in control) failNext = control.fail_next;
    return answer(response, 204);
  }
  if (request.method !== "POST") {
    return answer(response, 405);
  }
  const e = endpoint(request.url);
  let payload;
  try {
    payload = webhook.verify(body, request.headers);
  } catch {
    e.invalid += 1;
    return answer(response, 400, { error: "invalid signature" });
  }
  if (failNext > 0 || now() < failUntil) {
    failNext = Math.max(0, failNext - 1);
    e.failed += 1;
    return answer(response, 500, { error: "failing on purpose" });
  }
  const id = request.headers["webhook-id"];
  if (payload.type === "webhook.test") {
    e.tests += 1;
    return answer(response, 204);
  }
  if (payload.id !== id || typeof payload.seq !== "number") {
    e.invalid += 1;
    return answer(response, 400, { error: "the body's id is not the webhook-id" });
  }
  if (e.seen.has(id)) {
    e.duplicates += 1;
    return answer(response, 204);
  }
  e.seen.add(id);
  if (payload.seq <= e.last) e.out_of_order += 1;
  e.last = Math.max(e.last, payload.seq);
  e.seqs.push(payload.seq);
  e.arrived_at.push(arrived);
  return answer(response, 204);
});

// Longer than the sender's idle pool, so kept-alive connections stay.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.listen(port, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
