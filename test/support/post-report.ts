/** POST /wasmCallback as a reporter sends it; the status, or 'failed' when no answer came (refused, reset). */
export async function postReport(
  baseUrl: string,
  report: { msg: string; body: string; contentType: string; query?: string },
): Promise<number | 'failed'> {
  try {
    const res = await fetch(`${baseUrl}/wasmCallback${report.query ?? ''}`, {
      method: 'POST',
      headers: { melonMsg: report.msg, 'Content-Type': report.contentType },
      body: report.body,
    });
    await res.text();
    return res.status;
  } catch {
    return 'failed';
  }
}
