/**
 * Keep-alive connections to the local server. A new TCP connection per request costs the peer and
 * the local server more than the request itself (connect, accept, close, and their syscalls), so a
 * connection whose response ended cleanly goes back here and carries the next request.
 * Idle connections are unreferenced (they never keep the process alive) and closed after a while,
 * before the local server's own keep-alive timeout is likely to close them under a new request.
 */
import { connect, type Socket } from "node:net";

/** The exchange using a connection; the connection forwards its socket's events here. */
export interface ConnectionUser {
  /**
   * Bytes read. `owned`: the chunk is the user's to keep (a large read, in a buffer of its own);
   * otherwise it is a view of the pool's shared read buffer, valid only during the call. Returns
   * whether the user would keep a read of up to LOCAL_READ_SIZE as is: only then does the socket
   * read into buffers of its own.
   */
  onData(chunk: Buffer, owned: boolean): boolean;
  /** The local server half-closed (FIN). */
  onEnd(): void;
  /** The socket is gone; `connected`: it ever connected; `hadError`: it ended by an error (say, RST). */
  onClose(connected: boolean, hadError: boolean): void;
  onDrain(): void;
}

export interface PoolOptions {
  host: string;
  port: number;
  /** Idle connections kept at most (the forwarder passes its in-flight limit). */
  maxIdle?: number;
  /** How long an idle connection is kept, at most. */
  idleMs?: number;
}

/** Node's server closes idle keep-alive connections after 5 s; undici keeps them 4 s. */
const DEFAULT_IDLE_MS = 4000;
const DEFAULT_MAX_IDLE = 256;
/** A `Keep-Alive: timeout=N` hint is trusted minus this margin. */
const HINT_MARGIN_MS = 1000;
/**
 * Every local socket reads into this one buffer (`onread`): no allocation per read, and reads of up
 * to 256 KiB instead of Node's 64 KiB. Each read is handled before the next one lands, so whatever
 * a user keeps of a chunk past `onData` it copies (yamux frames it at once into its own messages).
 */
export const LOCAL_READ_SIZE = 256 * 1024;
const READ_BUFFER = Buffer.allocUnsafe(LOCAL_READ_SIZE);
/**
 * A read at least this large (a long answer on its way) moves its socket onto a read buffer of its
 * own, if its user would keep large reads as is. A read of at least HAND_OVER_READ there is handed
 * to the user with its buffer, which yamux sends without a copy (one copy less per byte of a
 * download), and the socket reads next into a fresh buffer; a smaller one is copied as usual and
 * the buffer is used again. Handing over only reads of half the buffer or more keeps the memory
 * held by queued reads within twice their bytes. A read under OWN_READ_MIN, a paused socket, or a
 * connection back in the pool moves it back to READ_BUFFER.
 */
const OWN_READ_MIN = 64 * 1024;
const HAND_OVER_READ = LOCAL_READ_SIZE / 2;

export class LocalConnection {
  /** Whether it already carried an exchange (a stale reused connection may close under a request). */
  reused = false;
  user: ConnectionUser | null = null;
  connected = false;
  expires = 0;

  readonly socket: Socket;
  /** This socket's own read buffer while its reads are large; null while it reads into READ_BUFFER. */
  private own: Buffer | null = null;

  /** Dials the local server; reads land in the shared READ_BUFFER, large ones in buffers of their own. */
  constructor(
    private readonly pool: LocalPool,
    opts: { host: string; port: number },
  ) {
    const socket = connect({
      host: opts.host,
      port: opts.port,
      noDelay: true,
      // Asked again after every read: the buffer the next read lands in.
      onread: { buffer: () => this.own ?? READ_BUFFER, callback: (n, buf) => this.onRead(buf as Buffer, n) },
    });
    this.socket = socket;
    socket.once("connect", () => {
      this.connected = true;
    });
    socket.on("end", () => {
      if (this.user) this.user.onEnd();
      else socket.destroy();
    });
    socket.on("drain", () => this.user?.onDrain());
    socket.on("error", () => {}); // "close" follows; the user learns of it there
    socket.on("close", (hadError) => {
      this.pool.forget(this);
      const user = this.user;
      this.user = null;
      user?.onClose(this.connected, hadError);
    });
  }

  /** `n` bytes read into `buf`: READ_BUFFER (the user copies what it keeps) or this socket's own. */
  onRead(buf: Buffer, n: number): boolean {
    const user = this.user;
    if (!user) {
      this.socket.destroy(); // bytes nobody asked for: the connection is out of step
      return true;
    }
    const inOwn = buf === this.own;
    const owned = inOwn && n >= HAND_OVER_READ;
    const keeps = user.onData(buf.subarray(0, n), owned);
    // The next read's buffer (Node asks right after this returns).
    if (n < OWN_READ_MIN || !keeps || this.user !== user || this.socket.isPaused()) this.own = null;
    else if (owned || !inOwn) this.own = Buffer.allocUnsafe(LOCAL_READ_SIZE);
    return true; // users pause the socket themselves
  }

  destroy(): void {
    this.user = null;
    this.socket.destroy();
  }
}

export class LocalPool {
  private readonly idle: LocalConnection[] = [];
  private sweeper: NodeJS.Timeout | undefined;
  private readonly maxIdle: number;
  private readonly idleMs: number;

  constructor(private readonly opts: PoolOptions) {
    this.maxIdle = opts.maxIdle ?? DEFAULT_MAX_IDLE;
    this.idleMs = opts.idleMs ?? DEFAULT_IDLE_MS;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** The most recently used idle connection, or a new one (`fresh` forces a new one). */
  acquire(user: ConnectionUser, fresh = false): LocalConnection {
    let conn = fresh ? undefined : this.idle.pop();
    // Past its time (the sweeper runs once a second): the server may be closing it right now.
    while (conn && conn.expires <= performance.now()) {
      conn.destroy();
      conn = this.idle.pop();
    }
    if (conn) {
      conn.user = user;
      conn.socket.ref();
      return conn;
    }
    const created = new LocalConnection(this, this.opts);
    created.user = user;
    return created;
  }

  /** Takes back a connection whose exchange ended cleanly; `hintS` is the server's Keep-Alive timeout. */
  release(conn: LocalConnection, hintS?: number): void {
    conn.user = null;
    conn.reused = true;
    const keepMs = hintS === undefined ? this.idleMs : Math.min(this.idleMs, hintS * 1000 - HINT_MARGIN_MS);
    if (keepMs <= 0 || this.idle.length >= this.maxIdle || conn.socket.destroyed) return conn.destroy();
    conn.expires = performance.now() + keepMs;
    conn.socket.unref();
    this.idle.push(conn);
    this.sweeper ??= setInterval(() => this.sweep(), Math.min(1000, this.idleMs)).unref();
  }

  /** Called when a connection's socket closed. */
  forget(conn: LocalConnection): void {
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
  }

  /** Closes every idle connection. */
  close(): void {
    for (const conn of this.idle.splice(0)) conn.destroy();
    this.stopSweeper();
  }

  private sweep(): void {
    const now = performance.now();
    // Oldest first: the list is in release order, and each release sets a later (or equal) expiry
    // unless a hint shortened it, so a full scan stays correct and cheap at this size.
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const conn = this.idle[i]!;
      if (conn.expires <= now) {
        this.idle.splice(i, 1);
        conn.destroy();
      }
    }
    if (this.idle.length === 0) this.stopSweeper();
  }

  private stopSweeper(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
