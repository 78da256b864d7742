/**
 * Signature verifications per second on one core: `verifyAuth` from the compiled relay code in a
 * tight loop over valid AUTH messages, with the public key sent (verify only) or without it
 * (recover, then verify).
 */

import type * as Identity from "../../src/peer/identity.ts";
import type { AuthRequest } from "../../src/protocol/auth-codec.ts";
import type * as AuthMessage from "../../src/protocol/auth-message.ts";
import type * as AuthVerify from "../../src/protocol/auth-verify.ts";
import { fromDist } from "./dist.ts";

export interface AuthJob {
  withPublicKey: boolean;
  durationMs: number;
  /** Distinct signed messages to cycle through. */
  messages: number;
}

export interface AuthResult {
  perS: number;
  verified: number;
  /** Verdicts that were not ok; anything but 0 means the bench itself is broken. */
  refused: number;
}

export async function authLoop(job: AuthJob): Promise<AuthResult> {
  const { AgentIdentity } = await fromDist<typeof Identity>("peer/identity.js");
  const { buildAuthMessage } = await fromDist<typeof AuthMessage>("protocol/auth-message.js");
  const { verifyAuth } = await fromDist<typeof AuthVerify>("protocol/auth-verify.js");
  const origin = "ws://127.0.0.1:8080";
  const allowedOrigins = new Set([origin]);
  const timestamp = Math.floor(Date.now() / 1000);
  const reqs: AuthRequest[] = [];
  for (let i = 0; i < job.messages; i++) {
    const id = AgentIdentity.generate();
    const nonce = crypto.getRandomValues(new Uint8Array(32));
    const signature = id.signMessage(buildAuthMessage({ origin, address: id.address, nonce, timestamp }));
    reqs.push({
      address: id.address,
      nonce,
      timestamp,
      signature,
      origin,
      ...(job.withPublicKey ? { publicKey: id.publicKey } : {}),
    });
  }
  let verified = 0;
  let refused = 0;
  const started = performance.now();
  let now = started;
  while (now - started < job.durationMs) {
    for (let k = 0; k < 16; k++) {
      const req = reqs[(verified + refused) % reqs.length]!;
      const verdict = verifyAuth(req, { expectedNonce: req.nonce, allowedOrigins, nowS: timestamp });
      if (verdict.ok) verified++;
      else refused++;
    }
    now = performance.now();
  }
  return { perS: (verified + refused) / ((now - started) / 1000), verified, refused };
}
