// Istio mode as a network filter (Istio's WasmPlugin type NETWORK): per TCP connection, the bytes
// of proxy_on_downstream_data (received, client -> server) and proxy_on_upstream_data (sent,
// server -> client), as istio_stats counts them on the downstream connection for both reporters.
// As istio_stats' network filter (reportHelper): a connection's dimensions are read once, as soon
// as a data callback finds the peer in filter state (Istio's TCP metadata exchange puts it there
// after the first bytes), else at its end; from then on it goes into the window of each tick it
// had news in (opened the first time, the bytes since) and of its end (closed, the last bytes), as
// Istio reports long connections every tcp_reporting_duration. Host calls per connection: 2 per
// data callback while the peer is unknown, then the identity dimensions (see istio.ts) and
// response.flags once; none per data callback or tick after that.

import { DIMENSIONS, observeTcp, peerKnown } from './istio';
import { Connection, Stream } from './stream';

/** The connection's news since it was last added (its opening the first time; its closing when
 * `closing`) into its reporter's window. */
export function recordConnection(s: Stream, c: Connection, closing: bool): void {
  const r = s.reporter;
  if (r === null || c.closed) return;
  const window = r.istio;
  if (window === null) return;
  readDimensions(s, c, true);
  const dims = c.dims;
  if (dims === null) return;
  window.addTcp(dims, !c.opened, closing, c.received, c.sent);
  c.opened = true;
  c.closed = closing;
  c.received = 0;
  c.sent = 0;
}

/** Reads the connection's dimensions, unless it did already: once the peer is known, or at its
 * end (`closing`) whatever is known. Runs in the connection's callbacks only. */
export function readDimensions(s: Stream, c: Connection, closing: bool): void {
  const r = s.reporter;
  if (c.read || r === null) return;
  const local = r.local;
  const o = r.istioObservation;
  if (local === null || o === null) return;
  if (!closing && !peerKnown()) return;
  let dims = c.dims;
  if (dims === null) {
    dims = new StaticArray<string>(DIMENSIONS);
    c.dims = dims;
  }
  observeTcp(local, dims, o.peer);
  c.read = true;
}

/** At a tick: an open connection with news since the last one goes into the window. */
export function flushConnection(s: Stream, c: Connection): void {
  if (c.read && !c.closed && (!c.opened || c.received > 0 || c.sent > 0))
    recordConnection(s, c, false);
}
