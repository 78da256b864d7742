/**
 * The `ws` package, loaded with `require`. Imported as an ES module, Node first runs its CommonJS
 * source (about 90 KB) through the export-name lexer, a start-up cost that stays in every process's
 * RSS (about 4 MiB for the peer, 6 MiB for the relay). Every import of `ws` goes through here.
 */
import { createRequire } from "node:module";
import type * as Ws from "ws";

const ws = createRequire(import.meta.url)("ws") as typeof Ws.default & Pick<typeof Ws, "WebSocketServer">;

export const WebSocket = ws;
export type WebSocket = Ws.default;
export const WebSocketServer = ws.WebSocketServer;
export type WebSocketServer = Ws.WebSocketServer;
export type RawData = Ws.RawData;
