# labkit's workerd config, filled in by labkit/workerd.py (string.Template placeholders).
# One service: the host worker, whose Worker Loader binding creates dynamic workers.
# The socket's address is a placeholder: labkit hands workerd an already-listening socket
# on 127.0.0.1 (--socket-fd http=FD), so two labs never race for a port.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "host", worker = .hostWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "host") ],
  # The heap limit of every isolate, host and guests alike: workerd itself enforces none.
  v8Flags = [ "--max-old-space-size=$heap_mb" ],
);

const hostWorker :Workerd.Worker = (
  modules = [
    (name = "host.js", esModule = embed "v8_host.js"),
    (name = "fib.js", text = embed "fib.js"),
  ],
  compatibilityDate = "2025-01-01",
  compatibilityFlags = ["experimental"],
  # TOKEN: the per-run secret every request must carry (labkit/workerd.py writes it).
  bindings = [ (name = "LOADER", workerLoader = (id = "dynamic")),
               (name = "TOKEN", text = "$token") ],
);
