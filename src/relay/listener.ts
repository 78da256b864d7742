/**
 * The public port. One listening socket (plain TCP, or TLS when a certificate is configured) hands
 * each connection to an HTTP/1.1 server or an HTTP/2 server, which never listen themselves:
 * - TLS: ALPN decides (`h2`, else `http/1.1`);
 * - plain: the first bytes decide: the HTTP/2 connection preface means h2c with prior knowledge.
 * Both servers raise the same request events, so the router does not care which one spoke.
 *
 * An HTTP/1.1 connection may first go to the router's fast lane (h1-lane.ts), which serves plain
 * requests itself and hands the connection, with the bytes it has read, to the HTTP/1.1 server
 * (`toHttp1`) at the first request it does not take.
 */
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createH2Server, type Http2Server, type ServerHttp2Session } from "node:http2";
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from "node:net";
import {
  createServer as createTlsServer,
  type SecureContextOptions,
  type Server as TlsServer,
} from "node:tls";

/** RFC 9113 3.4: every HTTP/2 connection starts with these 24 bytes. */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Streams one HTTP/2 connection may have open at once. */
export const H2_MAX_CONCURRENT_STREAMS = 256;

export interface ListenerOptions {
  tls?: SecureContextOptions;
  maxHeaderBytes: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  /** A connection sent no complete request head in time (before any server saw it). */
  onHeaderTimeout: (socket: Socket) => void;
  /** Takes an HTTP/1.1 connection and the bytes read from it so far (see `toHttp1`). */
  h1Lane?: (socket: Socket, buffered: Buffer) => void;
}

export class PublicListener {
  readonly h1: HttpServer;
  readonly h2: Http2Server;
  private readonly front: NetServer | TlsServer;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<ServerHttp2Session>();

  constructor(private readonly opts: ListenerOptions) {
    this.h1 = createHttpServer({
      noDelay: true,
      keepAlive: true,
      maxHeaderSize: opts.maxHeaderBytes,
      headersTimeout: opts.headerTimeoutMs,
      requestTimeout: 0, // long uploads are bounded by the idle timeout instead
      connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(opts.headerTimeoutMs / 4))),
    });
    this.h2 = createH2Server({
      settings: {
        enableConnectProtocol: true, // RFC 8441: WebSockets over HTTP/2
        maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
        // Headroom over the exact cap, which the router checks to answer 431 rather than a reset.
        maxHeaderListSize: opts.maxHeaderBytes * 2,
      },
      maxHeaderListPairs: 2000,
    });
    this.h2.setTimeout(opts.idleTimeoutMs);
    this.h2.on("session", (s) => {
      this.sessions.add(s);
      s.on("close", () => this.sessions.delete(s));
      s.on("error", () => {});
    });
    if (opts.tls) {
      this.front = createTlsServer({
        ...opts.tls,
        ALPNProtocols: ["h2", "http/1.1"],
        handshakeTimeout: opts.headerTimeoutMs,
        // As the HTTP/1.1 server would set them: the fast lane's connections never reach it.
        noDelay: true,
        keepAlive: true,
      });
      this.front.on("secureConnection", (socket) =>
        socket.alpnProtocol === "h2" ? this.dispatch(socket, true) : this.sniff(socket, false),
      );
      this.front.on("tlsClientError", (_err, socket) => socket.destroy());
    } else {
      this.front = createNetServer({ noDelay: true, keepAlive: true }, (socket) => this.sniff(socket, true));
    }
    this.front.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => socket.destroy());
    });
  }

  get tls(): boolean {
    return this.opts.tls !== undefined;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.front.once("error", reject);
      this.front.listen(port, host, () => {
        this.front.off("error", reject);
        // The HTTP/1.1 server starts its header-timeout checks on "listening"; it never listens itself.
        this.h1.emit("listening");
        resolve((this.front.address() as AddressInfo).port);
      });
    });
  }

  /** New certificate and key for new connections; open ones keep theirs. */
  setSecureContext(tls: SecureContextOptions): void {
    (this.front as TlsServer).setSecureContext(tls);
  }

  /**
   * Stops taking connections. HTTP/2 sessions get GOAWAY (open streams finish); HTTP/1.1
   * connections stay, so a load balancer's pooled connection still sees /health say 503 (the
   * router answers each with `Connection: close`).
   */
  stopAccepting(): void {
    this.front.close();
    for (const s of this.sessions) s.close();
  }

  /** Ends every connection at once. */
  closeAll(): void {
    if (this.front.listening) this.front.close();
    for (const s of this.sessions) s.destroy();
    for (const socket of this.sockets) socket.destroy();
    this.h1.close();
  }

  /**
   * Gives a connection to Node's HTTP/1.1 server, `buffered` (bytes already read from it) first.
   * The socket must be paused, with no reader of its own left.
   */
  toHttp1(socket: Socket, buffered: Buffer): void {
    if (buffered.length > 0) socket.unshift(buffered);
    this.h1.emit("connection", socket);
    // The HTTP/1.1 parser needs the buffer flowing.
    socket.resume();
  }

  private dispatch(socket: Socket, h2: boolean): void {
    (h2 ? this.h2 : this.h1).emit("connection", socket);
  }

  /**
   * Waits for a connection's first bytes, within the header timeout. On the plain port they also
   * decide the protocol: reads until they either are or cannot be the HTTP/2 preface.
   */
  private sniff(socket: Socket, allowH2: boolean): void {
    let seen: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.off("data", onData);
      this.opts.onHeaderTimeout(socket);
    }, this.opts.headerTimeoutMs);
    const onData = (chunk: Buffer) => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const h2 = allowH2 && seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (h2 && n < PREFACE.length) return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.pause();
      if (h2) {
        // HTTP/2 reads what is buffered by itself.
        socket.unshift(seen);
        this.dispatch(socket, true);
      } else if (this.opts.h1Lane) this.opts.h1Lane(socket, seen);
      else this.toHttp1(socket, seen);
    };
    socket.on("data", onData);
    socket.on("close", () => clearTimeout(timer));
  }
}
