/** Upper bounds (bytes) of mesha_report_body_bytes; the durable state keeps counts per bound. */
export const BODY_BYTES_BUCKETS: readonly number[] = [
  0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
];
