extension DemoApp {
    /// The page `/` serves: what Tether promises, a request the page starts and abandons and whose cancellation it
    /// watches on `/stats/`, the routes, and a WebSocket echo to try. Inline CSS and JavaScript only: it loads
    /// nothing from elsewhere. The elements the browser test reads have stable ids (`abort-start`, `abort-state` and
    /// its `data-state`: idle, running, aborted, cancelled, timeout or error; `abort-reason`, `abort-latency`,
    /// `abort-server-latency`, `stat-started`, `stat-completed`, `stat-cancelled`, `stat-stream-stopped`).
    static let indexPage = """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><title>Tether</title>
        <style>
        body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}
        code{background:#eee;padding:0 .2rem}
        #abort-demo{border:1px solid #ccc;border-radius:.5rem;padding:.25rem 1rem 1rem;margin:1.5rem 0}
        #abort-demo h2{margin:.5rem 0}
        #abort-start{font:inherit;padding:.3rem .8rem}
        #abort-state{font-weight:bold}
        #abort-state[data-state=running],#abort-state[data-state=aborted]{color:#8a5a00}
        #abort-state[data-state=cancelled]{color:#17692e}
        #abort-state[data-state=timeout],#abort-state[data-state=error]{color:#b00020}
        #abort-result{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.5rem 0}
        #abort-result dt{color:#555}#abort-result dd{margin:0}
        #counters{border-collapse:collapse}#counters th,#counters td{border:1px solid #ccc;padding:.1rem .6rem}
        #counters td{text-align:right;font-variant-numeric:tabular-nums}
        </style>
        </head>
        <body>
        <h1>Tether</h1>
        <p><strong>A request's work is tethered to its client.</strong> When a client goes away &mdash; before,
        during or after sending its body, while the handler runs, while a response streams &mdash; Tether notices at
        once, cancels that request's work, writes nothing more, and cleans up exactly once.</p>
        <section id="abort-demo">
        <h2>Leave a request, see its work cancelled</h2>
        <p>The button starts <code>GET /slow/?ms=30000</code> with <code>fetch</code>, aborts it with an
        <code>AbortController</code> once its handler runs, and reads <a href="/stats/">/stats/</a> every 20 ms until
        the server counts the handler cancelled.</p>
        <p><button id="abort-start" type="button">Start a slow request and abort it</button></p>
        <dl id="abort-result">
        <dt>State</dt><dd id="abort-state" data-state="idle">idle</dd>
        <dt>Reason</dt><dd id="abort-reason">&mdash;</dd>
        <dt>Seen after the abort</dt><dd><span id="abort-latency">&mdash;</span> ms
        (this page: <code>controller.abort()</code> to the first <code>/stats/</code> that counts it)</dd>
        <dt id="abort-server-label" hidden>In the server</dt><dd id="abort-server" hidden><span
        id="abort-server-latency"></span> &micro;s from the client's leaving to the handler's cancellation</dd>
        </dl>
        <table id="counters">
        <tr><th>started</th><th>completed</th><th>cancelled</th><th>stream_stopped</th></tr>
        <tr><td id="stat-started">&mdash;</td><td id="stat-completed">&mdash;</td><td
        id="stat-cancelled">&mdash;</td><td id="stat-stream-stopped">&mdash;</td></tr>
        </table>
        </section>
        <p>Or by hand: open <a href="/slow/?ms=10000">/slow/?ms=10000</a>, close the tab before it answers, then look
        at <a href="/stats/">/stats/</a>: the handler was cancelled the moment you left.</p>
        <h2>Routes</h2>
        <ul>
        <li><a href="/hello/?name=Ada">/hello/?name=Ada</a> &mdash; a greeting</li>
        <li><code>POST /post/</code> &mdash; echoes the body</li>
        <li><a href="/slow/?ms=2000">/slow/?ms=2000</a> &mdash; an async handler that sleeps, cancelled if you leave</li>
        <li><a href="/blocking/?ms=2000">/blocking/?ms=2000</a> &mdash; a blocking handler on a worker thread, stopped if you leave</li>
        <li><a href="/stream/?chunks=20&amp;ms=250">/stream/?chunks=20&amp;ms=250</a> &mdash; a streamed response, stopped if you leave</li>
        <li><code>POST /upload/</code> &mdash; reads the body through the spooled body, answers its size</li>
        <li><code>/ws/echo/</code> &mdash; a WebSocket that echoes every message</li>
        <li><code>/ws/ticker/?ms=500</code> &mdash; a WebSocket that ticks until you leave, then is cancelled</li>
        <li><a href="/stats/">/stats/</a> &mdash; started, completed and cancelled handlers</li>
        <li><a href="/metrics">/metrics</a> &mdash; requests, cancellations by reason, close &rarr; cancel latency and work saved, for Prometheus</li>
        </ul>
        <h2>WebSocket echo</h2>
        <form id="echo"><input id="message" value="Hello, Tether" aria-label="message">
        <button>Send</button> <span id="state">connecting…</span></form>
        <ol id="replies"></ol>
        <script>
        const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/echo/";
        const socket = new WebSocket(url);
        const state = document.getElementById("state");
        socket.onopen = () => { state.textContent = "open"; };
        socket.onclose = (event) => { state.textContent = "closed (" + event.code + ")"; };
        socket.onmessage = (event) => {
            const item = document.createElement("li");
            item.textContent = event.data;
            document.getElementById("replies").append(item);
        };
        document.getElementById("echo").onsubmit = (event) => {
            event.preventDefault();
            socket.send(document.getElementById("message").value);
        };
        </script>
        <script>
        (() => {
            const byId = (id) => document.getElementById(id);
            const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
            const counters = ["started", "completed", "cancelled", "stream_stopped"];

            /// One read of /stats/, given up after a second; shows the counters.
            async function readStats() {
                const timeout = new AbortController();
                const timer = setTimeout(() => timeout.abort(), 1000);
                try {
                    const response = await fetch("/stats/", { cache: "no-store", signal: timeout.signal });
                    if (!response.ok) { throw new Error("/stats/ answered " + response.status); }
                    const stats = await response.json();
                    for (const name of counters) {
                        byId("stat-" + name.replace("_", "-")).textContent = String(stats[name]);
                    }
                    return stats;
                } finally {
                    clearTimeout(timer);
                }
            }

            /// Reads /stats/ every 20 ms until `holds` is true of it, for at most `limit` ms; returns those stats
            /// and when their answer arrived, or null.
            async function pollUntil(holds, limit) {
                const deadline = performance.now() + limit;
                while (performance.now() < deadline) {
                    const stats = await readStats();
                    const at = performance.now();
                    if (holds(stats)) { return { stats, at }; }
                    await sleep(20);
                }
                return null;
            }

            function show(state, text) {
                const element = byId("abort-state");
                element.dataset.state = state;
                // Every state in order since the button was pressed, however briefly it lasted.
                element.dataset.history = state === "running" ? state : element.dataset.history + " " + state;
                element.textContent = text;
            }

            /// The reasons /stats/ counted between `before` and `after`.
            function newReasons(before, after) {
                const was = before.reasons || {};
                const now = after.reasons || {};
                return Object.keys(now).filter((reason) => now[reason] > (was[reason] || 0)).sort();
            }

            async function run() {
                byId("abort-start").disabled = true;
                byId("abort-reason").textContent = "—";
                byId("abort-latency").textContent = "—";
                byId("abort-server-label").hidden = true;
                byId("abort-server").hidden = true;
                try {
                    const before = await readStats();
                    const controller = new AbortController();
                    const request = fetch("/slow/?ms=30000", { cache: "no-store", signal: controller.signal })
                        .then((response) => "answered " + response.status, (error) => error.name);
                    const startedAt = performance.now();
                    show("running", "running…");
                    // Abort only once the handler runs (and after a second, to be seen running).
                    const running = await pollUntil((stats) => stats.started > before.started, 5000);
                    if (running === null) {
                        controller.abort();
                        show("error", "the slow request did not start within 5 s");
                        return;
                    }
                    await sleep(Math.max(0, 1000 - (performance.now() - startedAt)));
                    const abortedAt = performance.now();
                    controller.abort();
                    show("aborted", "aborted, waiting for the server…");
                    const seen = await pollUntil((stats) => stats.cancelled >= before.cancelled + 1, 5000);
                    if (seen === null) {
                        show("timeout", "the server did not count a cancellation within 5 s of the abort");
                        return;
                    }
                    const milliseconds = (seen.at - abortedAt).toFixed(1);
                    const reasons = newReasons(before, seen.stats);
                    const reason = reasons.length > 0 ? reasons.join(", ") : "unknown";
                    byId("abort-reason").textContent = reason;
                    byId("abort-latency").textContent = milliseconds;
                    const serverMicroseconds = seen.stats.last_close_to_cancel_us;
                    if (typeof serverMicroseconds === "number" && serverMicroseconds > 0) {
                        byId("abort-server-latency").textContent = String(serverMicroseconds);
                        byId("abort-server-label").hidden = false;
                        byId("abort-server").hidden = false;
                    }
                    show("cancelled", "cancelled by the server: reason " + reason + ", seen " + milliseconds
                        + " ms after the abort");
                    byId("abort-state").dataset.fetch = await request;
                } catch (error) {
                    show("error", "error: " + error.message);
                } finally {
                    byId("abort-start").disabled = false;
                }
            }

            byId("abort-start").onclick = run;
            readStats().catch(() => {});
        })();
        </script>
        </body>
        </html>
        """
}
