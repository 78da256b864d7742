/**
 * HTTPS on the relay with real processes: a self-signed certificate made here with openssl, ALPN
 * h2 and http/1.1 on one port, the tunnel over wss://, clients node:https, node:http2, undici and
 * curl --http2, and a certificate reload on SIGHUP that keeps open connections.
 */
import { execFile, execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { connect as h2connect } from "node:http2";
import { Agent as HttpsAgent, request } from "node:https";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { Agent as UndiciAgent, request as undiciRequest } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { killAll, run, start, tempHome } from "../helpers/cli.ts";
import { cleanup, startLocalServer } from "../helpers/harness.ts";

afterEach(async () => {
  killAll();
  await cleanup();
});

const DOMAIN = "relay.localhost";

/** A self-signed certificate for the relay's host names; returns the file paths and the PEM. */
function makeCert(dir: string, name: string): { cert: string; key: string; pem: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      `/CN=${DOMAIN}`,
      "-addext",
      `subjectAltName=DNS:localhost,DNS:${DOMAIN},DNS:*.${DOMAIN},IP:127.0.0.1`,
    ],
    { stdio: "ignore" },
  );
  return { cert, key, pem: readFileSync(cert, "utf8") };
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** The certificate a fresh TLS connection is shown. */
function servedFingerprint(port: number, servername: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: "127.0.0.1", port, servername, ca }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.end();
    });
    s.on("error", reject);
  });
}

function curl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("curl", ["-sS", "--max-time", "10", ...args], (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout),
    ),
  );
}

describe("TLS on the public port", () => {
  it("serves h2 and http/1.1 by ALPN, carries the tunnel over wss, and reloads its certificate on SIGHUP", async () => {
    const home = tempHome();
    const a = makeCert(home, "a");
    const local = await startLocalServer((req, res) =>
      res.end(JSON.stringify({ path: req.url, proto: req.headers["x-forwarded-proto"] })),
    );
    const relay = start(home, [
      "relay",
      "--listen",
      "127.0.0.1:0",
      "--domain",
      DOMAIN,
      "--tls-cert",
      a.cert,
      "--tls-key",
      a.key,
      "--metrics-listen",
      "off",
    ]);
    const port = Number((await relay.waitFor(/relay listening on 127\.0\.0\.1:(\d+) \(TLS\)/))[1]);

    await run(home, ["agent", "create", "a", "--target", local.url]);
    process.env.NODE_EXTRA_CA_CERTS = a.cert; // the peer process trusts the test certificate
    const up = start(home, ["up", "--agent", "a", "--relay", `wss://localhost:${port}`]);
    delete process.env.NODE_EXTRA_CA_CERTS;
    const url = new URL((await up.waitFor(/a: (https:\/\/\S+) -> /))[1]!);
    expect(url.hostname.endsWith(`.${DOMAIN}`)).toBe(true);
    const host = url.host;

    // HTTP/1.1 by ALPN.
    const viaH1 = await new Promise<{ alpn: string | false | null; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          path: "/one",
          agent: new HttpsAgent({ ALPNProtocols: ["http/1.1"], servername: url.hostname, ca: a.pem }),
          headers: { host },
        },
        (res) => {
          const alpn = (res.socket as import("node:tls").TLSSocket).alpnProtocol;
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c;
          });
          res.on("end", () => resolve({ alpn, body }));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(viaH1.alpn).toBe("http/1.1");
    expect(JSON.parse(viaH1.body)).toEqual({ path: "/one", proto: "https" });

    // HTTP/2 by ALPN; the session stays open across the reload below.
    const session = h2connect(`https://127.0.0.1:${port}`, { ca: a.pem, servername: url.hostname });
    session.on("error", () => {});
    const h2get = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const s = session.request({ ":path": path, ":authority": host });
        let body = "";
        s.on("data", (c: Buffer) => {
          body += c;
        });
        s.on("end", () => resolve(body));
        s.on("error", reject);
      });
    expect(JSON.parse(await h2get("/two"))).toEqual({ path: "/two", proto: "https" });
    expect(session.alpnProtocol).toBe("h2");

    const viaCurl = await curl([
      "--http2",
      "--cacert",
      a.cert,
      "--resolve",
      `${url.hostname}:${port}:127.0.0.1`,
      "-w",
      "\n%{http_version}",
      `https://${host}/three`,
    ]);
    expect(viaCurl.split("\n")).toEqual([JSON.stringify({ path: "/three", proto: "https" }), "2"]);

    // undici with HTTP/2 allowed: ALPN picks h2 (the relay's access log says so).
    const dispatcher = new UndiciAgent({
      allowH2: true,
      connect: {
        ca: a.pem,
        lookup: (_name, opts, cb) =>
          (opts as { all?: boolean }).all
            ? cb(null, [{ address: "127.0.0.1", family: 4 }] as never, 4)
            : cb(null, "127.0.0.1", 4),
      },
    });
    const viaUndici = await undiciRequest(`https://${host}/four`, { dispatcher });
    expect(viaUndici.statusCode).toBe(200);
    expect(await viaUndici.body.json()).toEqual({ path: "/four", proto: "https" });
    await dispatcher.close();
    await relay.waitFor(/"path":"\/four","proto":"h2"/);

    // SIGHUP: new connections get the new certificate, open ones go on.
    const b = makeCert(home, "b");
    expect(await servedFingerprint(port, url.hostname, a.pem)).toBe(fingerprint(a.pem));
    writeFileSync(a.cert, b.pem);
    writeFileSync(a.key, readFileSync(b.key));
    relay.child.kill("SIGHUP");
    await relay.waitFor(/tls certificate reloaded/);
    expect(await servedFingerprint(port, url.hostname, b.pem)).toBe(fingerprint(b.pem));
    expect(JSON.parse(await h2get("/after-reload"))).toEqual({ path: "/after-reload", proto: "https" });

    // A broken pair is refused; the relay keeps serving the last good one.
    writeFileSync(a.cert, "not a certificate");
    relay.child.kill("SIGHUP");
    await relay.waitFor(/tls reload failed/);
    expect(await servedFingerprint(port, url.hostname, b.pem)).toBe(fingerprint(b.pem));
    expect(relay.child.exitCode).toBeNull();
    session.close();
  });
});
