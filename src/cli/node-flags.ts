/**
 * V8 flags every `agent-relay` process runs with. They must be on node's command line (V8 reads
 * them when it sets up the heap), so they are in three places that a test keeps equal: the
 * shebang of bin/agent-relay.js, the service files (peer/service-files.ts) and the bench's
 * launcher.
 *
 * `--initial-old-space-size=64`: with V8's default, an old generation of under 10 MiB has an
 * allocation limit so low that traffic triggers full mark-compact collections every ~20 MB (on a
 * 64 MiB download, 20 of them in the relay: about 1 s of CPU per GiB). 64 MiB lets that garbage go
 * in scavenges; it is a limit, not memory taken up front, so an idle process is no larger.
 */
export const NODE_FLAGS: readonly string[] = ["--initial-old-space-size=64"];
