/** Sizes as the kernel and its tools write them: "256M", "1G", "131072" (bytes), K…E, optional "iB"/"B". */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+)\s*([KMGTPE]?)i?B?\s*$/i.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  const mult: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50, E: 2 ** 60 };
  return n * mult[m[2]!.toUpperCase()]!;
}
