import { parse, type Type } from 'protobufjs';
import { compress, uncompressSync } from 'snappy';

/**
 * The part of Prometheus' remote-write 1.0 schema that mesha sends (prompb/types.proto and
 * prompb/remote.proto in prometheus/prometheus; field numbers as there). Exemplars, native
 * histograms and metadata are left out: mesha has none to send.
 */
const PROMPB = `
syntax = "proto3";
package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }
`;

const writeRequest: Type = parse(PROMPB).root.lookupType('prometheus.WriteRequest');

export interface Label {
  name: string;
  value: string;
}

/** One series at one instant: its labels (`__name__` included, sorted by name) and its value. */
export interface SeriesSample {
  labels: readonly Label[];
  value: number;
}

export interface TimeSeries {
  labels: Label[];
  samples: Array<{ value: number; timestamp: number }>;
}

/** Headers every remote-write 1.0 request carries (the spec's MUSTs). */
export const REMOTE_WRITE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Encoding': 'snappy',
  'Content-Type': 'application/x-protobuf',
  'X-Prometheus-Remote-Write-Version': '0.1.0',
};

/** A WriteRequest holding `samples`, all at `timestampMs`, snappy-compressed (block format). */
export async function encodeWriteRequest(
  samples: readonly SeriesSample[],
  timestampMs: number,
): Promise<Buffer> {
  const timeseries = samples.map(({ labels, value }) => ({
    labels,
    samples: [{ value, timestamp: timestampMs }],
  }));
  const bytes = writeRequest.encode({ timeseries }).finish();
  return compress(bytes);
}

/** The inverse of encodeWriteRequest (for receivers and tests). */
export function decodeWriteRequest(body: Uint8Array): TimeSeries[] {
  const bytes = uncompressSync(body, { asBuffer: true }) as Buffer;
  const decoded = writeRequest.toObject(writeRequest.decode(bytes), { longs: Number }) as {
    timeseries?: Array<{
      labels?: Label[];
      samples?: Array<{ value?: number; timestamp?: number }>;
    }>;
  };
  return (decoded.timeseries ?? []).map((series) => ({
    labels: (series.labels ?? []).map((l) => ({ name: l.name ?? '', value: l.value ?? '' })),
    samples: (series.samples ?? []).map((s) => ({
      value: s.value ?? 0,
      timestamp: s.timestamp ?? 0,
    })),
  }));
}
