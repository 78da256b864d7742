/** One authenticated tunnel on the relay: the WebSocket, its yamux session, and how it ends. */

import { CLOSE_CODES, type CloseReason, closeText } from "../protocol/errors.ts";
import { WebSocket } from "../transport/ws.ts";
import { GoAwayCode } from "../yamux/frame.ts";
import type { Session } from "../yamux/session.ts";
import type { YamuxStream } from "../yamux/stream.ts";

export class Tunnel {
  readonly connectedAt = Date.now();
  private draining = false;
  private drainTimer: NodeJS.Timeout | undefined;

  constructor(
    /** 40 lowercase hex digits. */
    readonly address: string,
    readonly publicUrl: string,
    readonly ws: WebSocket,
    readonly session: Session,
    private readonly maxStreams: number,
  ) {
    session.onStreamGone = () => {
      if (this.draining && this.session.streamCount === 0) this.finish();
    };
  }

  get isOpen(): boolean {
    return !this.draining && this.session.canOpenStreams;
  }

  /** True when this tunnel already carries its limit of streams. */
  get isBusy(): boolean {
    return this.session.streamCount >= this.maxStreams;
  }

  /** Resolves once the WebSocket is closed (after its closing handshake), or after `maxMs`. */
  closed(maxMs: number): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, maxMs);
      this.ws.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  openStream(): YamuxStream {
    return this.session.openStream();
  }

  /**
   * Sends GoAway `code` so no new streams start, lets in-flight streams finish for up to
   * `timeoutMs`, then closes the WebSocket with `closeReason`.
   */
  drain(code: GoAwayCode, closeReason: CloseReason, timeoutMs: number): void {
    if (this.draining) return;
    this.draining = true;
    this.session.goAway(code);
    this.pendingClose = closeReason;
    if (this.session.streamCount === 0) return this.finish();
    this.drainTimer = setTimeout(() => this.finish(), timeoutMs);
    this.drainTimer.unref();
  }

  private pendingClose: CloseReason = "superseded";

  private finishing = false;

  private finish(): void {
    if (this.finishing) return;
    this.finishing = true;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    const reason = this.pendingClose;
    void this.session.flushed().then(() => this.close(reason));
  }

  close(reason: CloseReason, detail?: string): void {
    const text = detail ? `${reason}: ${detail}` : reason;
    this.ws.close(CLOSE_CODES[reason], closeText(text));
    this.session.close();
  }
}

export { GoAwayCode };
