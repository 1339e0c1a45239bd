/** JSON output shared by every `--json` mode: one document, stable key order, trailing newline. */
export function printJson(value: unknown, out: NodeJS.WritableStream = process.stdout): void {
  out.write(JSON.stringify(value, null, 2) + '\n');
}

/** One JSON object per line (for streams: events, received lines). */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value) + '\n';
}
