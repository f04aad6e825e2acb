// labkit's host worker for V8 isolates: every request it serves creates (or reuses) a
// Dynamic Worker through the Worker Loader binding, runs one exported function of the guest
// module in it, and answers with JSON: {"value": ...} or {"error", "name", "stage"}.
//
//   GET  /ping                 ready check
//   GET  /floor                {"value": 0} from the host worker itself: no isolate made
//   GET  /cold?n=20            a NEW isolate (anonymous, discarded after), fib(n) in it
//   GET  /warm?n=20            the same long-lived isolate every time, fib(n) in it
//   POST /run                  body {"source", "fn", "args", "id"}: the reader's own module;
//                              a fresh anonymous isolate, or the named isolate `id` if given
//   POST /hold?prefix=p&count=N  N named isolates created and kept alive until restart
//   POST /hold-tool?prefix=p&count=N  body {"source", "fn", "args"}: the same, each isolate
//                              the reader's module, its function called once
//   GET  /phase-load?id=x, /phase-call?id=x&n=20   one cold call in two steps (phases)
//
// Every request must carry the per-run secret in X-Labkit-Token (env.TOKEN), or gets 403:
// the port is on loopback, but other local users must not run code or read state here.
import STANDARD from "fib.js";

const COMPATIBILITY_DATE = "2025-01-01";

// The dynamic worker's entry module: it calls one function the guest module exports.
const ENTRY = `import * as guest from "guest.js";
export default {
  async fetch(request) {
    const { fn, args } = await request.json();
    if (typeof guest[fn] !== "function") {
      return Response.json({ error: "guest.js exports no function named " + JSON.stringify(fn),
                             name: "TypeError", stage: "call" }, { status: 422 });
    }
    try {
      const value = await guest[fn](...args);
      return Response.json({ value: value === undefined ? null : value });
    } catch (e) {
      return Response.json({ error: String((e && e.message) || e), name: (e && e.name) || "Error",
                             stage: "call" }, { status: 422 });
    }
  }
};`;

// The standard workload as ONE module (fib.js plus a fetch handler): one module to compile
// per new isolate instead of two, measurably cheaper than the general path below.
const STANDARD_MAIN = STANDARD + `
export default {
  fetch(request) {
    return Response.json({ value: fib(Number(new URL(request.url).searchParams.get("n"))) });
  }
};`;

// The code of one dynamic worker: no network at all (globalOutbound null), no bindings.
function workerCode(source) {
  return {
    compatibilityDate: COMPATIBILITY_DATE,
    mainModule: "entry.js",
    modules: { "entry.js": ENTRY, "guest.js": source },
    globalOutbound: null,
  };
}

function standardCode() {
  return {
    compatibilityDate: COMPATIBILITY_DATE,
    mainModule: "fib.js",
    modules: { "fib.js": STANDARD_MAIN },
    globalOutbound: null,
  };
}

async function call(worker, fn, args) {
  try {
    return await worker.getEntrypoint().fetch("http://guest/", {
      method: "POST", body: JSON.stringify({ fn, args }),
    });
  } catch (e) {
    return loadFailed(e);
  }
}

async function standard(worker, n) {
  try {
    return await worker.getEntrypoint().fetch("http://guest/?n=" + n);
  } catch (e) {
    return loadFailed(e);
  }
}

// The isolate could not start (a syntax error, a throw at module level) or gave up.
function loadFailed(e) {
  return Response.json({ error: String((e && e.message) || e), name: (e && e.name) || "Error",
                         stage: "load" }, { status: 422 });
}

// Compares every character, so the time taken says nothing about how much matched.
function sameSecret(given, secret) {
  if (typeof secret !== "string" || secret.length === 0 || given.length !== secret.length) {
    return false;
  }
  let diff = 0;
  for (let i = 0; i < secret.length; i++) diff |= given.charCodeAt(i) ^ secret.charCodeAt(i);
  return diff === 0;
}

export default {
  async fetch(request, env) {
    if (!sameSecret(request.headers.get("x-labkit-token") || "", env.TOKEN)) {
      return new Response("forbidden", { status: 403 });
    }
    const url = new URL(request.url);
    const params = url.searchParams;
    switch (url.pathname) {
      case "/ping":
        return new Response("ok");
      case "/floor":
        return Response.json({ value: 0 });
      case "/cold":
        return standard(env.LOADER.load(standardCode()), Number(params.get("n")));
      case "/warm":
        return standard(env.LOADER.get("labkit-warm", standardCode), Number(params.get("n")));
      case "/run": {
        const { source, fn, args, id } = await request.json();
        const worker = id ? env.LOADER.get("run-" + id, () => workerCode(source))
                          : env.LOADER.load(workerCode(source));
        return call(worker, fn, args);
      }
      // A cold call in two requests, for timing its parts (phases): /phase-load loads a NEW
      // isolate under a one-off name and runs fib(0) in it; /phase-call runs fib(n) in the
      // same isolate, which now exists.
      case "/phase-load":
        return standard(env.LOADER.get("phase-" + params.get("id"), standardCode), 0);
      case "/phase-call":
        return standard(env.LOADER.get("phase-" + params.get("id"), standardCode),
                        Number(params.get("n")));
      case "/hold": {
        const prefix = params.get("prefix"), count = Number(params.get("count"));
        for (let i = 0; i < count; i++) {
          const held = env.LOADER.get(`hold-${prefix}-${i}`, standardCode);
          const answer = await standard(held, 1);
          if (answer.status !== 200) return answer;
        }
        return Response.json({ value: count });
      }
      case "/hold-tool": {
        const prefix = params.get("prefix"), count = Number(params.get("count"));
        const { source, fn, args } = await request.json();
        for (let i = 0; i < count; i++) {
          const held = env.LOADER.get(`hold-${prefix}-${i}`, () => workerCode(source));
          const answer = await call(held, fn, args);
          if (answer.status !== 200) return answer;
        }
        return Response.json({ value: count });
      }
      default:
        return new Response("not found", { status: 404 });
    }
  },
};
