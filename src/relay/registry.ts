/** Live tunnels by address. The newest tunnel for an address wins (spec/PROTOCOL.md, "Ownership"). */
import type { Tunnel } from "./tunnel.ts";

export class TunnelRegistry {
  private readonly byAddress = new Map<string, Tunnel>();

  get size(): number {
    return this.byAddress.size;
  }

  get(address: string): Tunnel | undefined {
    return this.byAddress.get(address);
  }

  /** Registers `tunnel` and returns the tunnel it replaced, if any. */
  add(tunnel: Tunnel): Tunnel | undefined {
    const previous = this.byAddress.get(tunnel.address);
    this.byAddress.set(tunnel.address, tunnel);
    return previous === tunnel ? undefined : previous;
  }

  /** Removes `tunnel` only if it is still the current one for its address. */
  remove(tunnel: Tunnel): void {
    if (this.byAddress.get(tunnel.address) === tunnel) this.byAddress.delete(tunnel.address);
  }

  all(): IterableIterator<Tunnel> {
    return this.byAddress.values();
  }

  /** Streams open across every live tunnel. */
  streamCount(): number {
    let n = 0;
    for (const t of this.byAddress.values()) n += t.session.streamCount;
    return n;
  }
}
